"""Where tenas finds what it ships."""
from pathlib import Path

#: The shipped configs (Hydra's primary config directory and every preset group), package data of tenas.
CONF_DIR = Path(__file__).resolve().parent / "conf"
