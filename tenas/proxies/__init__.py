"""Training-free proxies as plugins: ``(model, inputs, **options) -> float`` behind one registry.

A proxy is one module ``tenas/proxies/<name>.py`` that registers its scoring
function with :func:`register_proxy`, plus its protocol in ``conf/proxy/<name>.yaml``
(the network it scores, the inputs it draws per repeat, the initialisation and its
keyword options; see :func:`proxy_settings`). The search, the correlation study and
the Python API read both from here; nothing else names a proxy.

Every proxy is pure: the model's mode, parameters, gradients, buffers and hooks, and
the global RNG, are left as found. A non-finite score comes back as NaN (with a
warning), which the search and the study treat as a missing value.
"""
from __future__ import annotations

import importlib
import math
import pkgutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "proxy"

#: What a proxy scores and draws when its config file leaves a key out (see ``conf/proxy/ntk.yaml``
#: for the meaning of each key).
BASE_SETTINGS = {
    "network": {"C": None, "N": None, "stem": True},
    "init": "kaiming",
    "inputs": {"kind": "images", "batch_size": 32, "num_batches": 1, "crop_size": None},
    "options": {},
}


@dataclass(frozen=True)
class Proxy:
    """A registered proxy: its function, direction, whether it takes ``targets=``, and a one-line summary."""

    name: str
    fn: Callable[..., float]
    higher_is_better: bool
    needs_targets: bool = False
    doc: str = ""
    min_batch_size: int = 1  # fewest samples per forward the score means anything with (NTK: 2)
    batched: Callable[..., list[float]] | None = None  # (supernet, inputs, alive_sets, **options) -> scores

    def __call__(self, model, inputs, **options) -> float:
        """The score as a float; NaN (and a warning) when the function's answer is not finite."""
        return self._finite(self.fn(model, inputs, **options))

    def score_candidates(self, net, inputs, alive_sets, **options) -> list[float]:
        """The scores of supernet ``net`` under each of ``alive_sets`` in one batched computation
        (the ``batched`` function; the same values as one call per alive-set, up to float rounding)."""
        if self.batched is None:
            raise ValueError(f"proxy {self.name} has no batched form")
        return [self._finite(v) for v in self.batched(net, inputs, alive_sets, **options)]

    def _finite(self, value) -> float:
        value = float(value)
        if not math.isfinite(value):
            warnings.warn(f"proxy {self.name}: non-finite score {value}; returning NaN", RuntimeWarning, stacklevel=3)
            return float("nan")
        return value


PROXIES: dict[str, Proxy] = {}


def register_proxy(name: str, *, higher_is_better: bool, needs_targets: bool = False, min_batch_size: int = 1,
                   batched: Callable[..., list[float]] | None = None):
    """Decorator: register ``fn(model, inputs, **options) -> float`` as proxy ``name``.

    ``needs_targets``: the function takes ``targets=`` (a LongTensor of class indices,
    one per input sample), which the search and the study then draw with the inputs.
    ``min_batch_size``: the smallest ``inputs.batch_size`` the score is defined for
    (:meth:`tenas.scoring.ScoringRecipe.check` refuses smaller ones).
    ``batched``: optional ``(supernet, inputs, alive_sets, **options) -> list of scores``, the
    same scores for many alive-sets of one supernet in one computation (a search's
    ``compute.candidate_batch``; see :func:`tenas.ntk.candidate_condition_numbers`).
    """

    def deco(fn):
        summary = (fn.__doc__ or "").strip().splitlines()
        PROXIES[name] = Proxy(name, fn, higher_is_better, needs_targets, summary[0] if summary else "", min_batch_size, batched)
        return fn

    return deco


def _load_builtin() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


def get_proxy(name: str) -> Proxy:
    if name not in PROXIES:
        raise ValueError(f"unknown proxy {name!r}; known: {list_proxies()}")
    return PROXIES[name]


def list_proxies() -> list[str]:
    return sorted(PROXIES)


def proxy_settings(name: str, overrides=None) -> dict:
    """The protocol of proxy ``name``: :data:`BASE_SETTINGS`, then ``conf/proxy/<name>.yaml``
    (when there is one), then ``overrides`` (a run's ``proxy.<name>`` section), merged key by key."""
    from omegaconf import OmegaConf

    get_proxy(name)
    layers = [OmegaConf.create(BASE_SETTINGS)]
    path = CONF_DIR / f"{name}.yaml"
    if path.is_file():
        layers.append(OmegaConf.load(path))
    if overrides:
        layers.append(OmegaConf.create(overrides) if not OmegaConf.is_config(overrides) else overrides)
    return OmegaConf.to_container(OmegaConf.merge(*layers), resolve=True)


_load_builtin()

from tenas.proxies.linear_regions import count_linear_regions  # noqa: E402  (re-exported)

__all__ = ["Proxy", "PROXIES", "register_proxy", "get_proxy", "list_proxies", "proxy_settings", "count_linear_regions"]
