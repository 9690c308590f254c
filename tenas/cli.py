"""What the Hydra entry points share: Hydra's refusals and bad input as one line, the run directory, the device."""
from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Callable

import torch
from omegaconf import DictConfig

from tenas import CONF_DIR
from tenas.errors import TenasError

log = logging.getLogger("tenas")


def run_or_exit(run: Callable[[DictConfig, Path], dict], cfg: DictConfig) -> tuple[dict, Path]:
    """Call ``run(cfg, run_dir)``; a :class:`TenasError` becomes ``error: ...`` on stderr and exit code 1."""
    from hydra.core.hydra_config import HydraConfig

    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        return run(cfg, out_dir), out_dir
    except TenasError as err:
        log.error("%s", err)
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


def main_or_exit(main: Callable[[], object], config_name: str, argv: list[str] | None = None) -> None:
    """Run a Hydra ``main`` after composing its config with the command line's overrides as Hydra will, so
    that what Hydra would refuse (a key the config lacks, an option a group lacks, an unparsable override)
    stops with one line ``error: <setting>: ...`` and exit code 1 instead of Hydra's report. A command line
    with flags (``--cfg``, ``-m`` sweeps) goes to Hydra as it is."""
    argv = sys.argv[1:] if argv is None else argv
    if not any(a.startswith("-") for a in argv):
        from hydra import compose, initialize_config_dir

        try:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                compose(config_name=config_name, overrides=argv, return_hydra_config=True)
        except Exception as err:  # Hydra's composition and override errors
            print(f"error: {hydra_message(err, argv)}", file=sys.stderr)
            sys.exit(1)
    main()


def hydra_message(err: Exception, argv: list[str]) -> str:
    """A Hydra composition error as one line ``<setting>: <what is wrong>; allowed: ...``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    text = str(err)
    for override in argv:  # an override that does not parse, named with its key
        try:
            OverridesParser.create().parse_overrides([override])
        except Exception as bad:
            reason = " ".join(str(bad).split()).split(" See https://")[0]
            return f"{override.split('=')[0].lstrip('+~')}: cannot parse {override!r} ({reason}); allowed: key=value in Hydra's override grammar"
    if match := re.search(r"Could not override '([^']+)'", text):
        return f"{match.group(1)}: unknown setting (not in the config); allowed: the config's keys (--cfg job shows them), or +{match.group(1)}=... to add one"
    if match := re.search(r"Could not find '([^'/]+)/([^']+)'", text):
        options = re.findall(r"^\t(\S+)$", text, flags=re.M)
        return f"{match.group(1)}: no option {match.group(2)!r}; allowed: {', '.join(options)}"
    return "; ".join(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("Set the environment"))


def resolve_device(name: str) -> torch.device:
    """``device`` (checked by :func:`tenas.schema.check_device`) as a torch device; ``auto``: CUDA when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TenasError(f"device={name} requested but CUDA is not available (use device=cpu or device=auto)")
    return torch.device(name)
