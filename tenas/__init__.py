"""tenas: training-free neural architecture search (TE-NAS)."""
from pathlib import Path

#: The shipped configs (Hydra's primary config directory and every preset group), package data of tenas.
CONF_DIR = Path(__file__).resolve().parent / "conf"

from tenas.ntk import ntk_condition_number, ntk_matrix
from tenas.proxies import count_linear_regions, get_proxy, list_proxies, score

__all__ = ["ntk_condition_number", "ntk_matrix", "count_linear_regions", "get_proxy", "list_proxies", "score"]
__version__ = "0.1.0"
