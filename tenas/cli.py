"""What the Hydra entry points share: run into the Hydra run directory, bad input as one line, the device."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Callable

import torch
from omegaconf import DictConfig

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


def resolve_device(name: str) -> torch.device:
    """``device`` (checked by :mod:`tenas.settings`) as a torch device; ``auto``: CUDA when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TenasError(f"device={name} requested but CUDA is not available (use device=cpu or device=auto)")
    return torch.device(name)
