"""The proxy registry: :func:`register_proxy` and the :class:`Proxy` it records (see :mod:`tenas.proxies`)."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable


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
    needs: frozenset = frozenset()  # non-empty: ``fn`` reads a shared Pass (tenas/proxies/_pass.py) instead of the model
    batches: str = "concat"  # a shared-pass proxy on a list of batches: "concat" (one pass) or "mean" (of per-batch passes)

    def __call__(self, model, inputs, **options) -> float:
        """The score as a float; NaN (and a warning) when the function's answer is not finite."""
        if self.needs:
            from tenas.proxies import score  # the shared pass that serves every proxy reading one

            targets = options.pop("targets", None)
            return score(model, inputs, [self.name], targets=targets, options={self.name: options})[self.name]
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
                   batched: Callable[..., list[float]] | None = None, needs=(), batches: str = "concat"):
    """Decorator: register ``fn(model, inputs, **options) -> float`` as proxy ``name``; with ``needs``
    (names from :data:`tenas.proxies._pass.NEEDS`), ``fn(pass_, **options) -> float`` reading a shared pass.

    ``needs_targets``: the function takes ``targets=`` (a LongTensor of class indices,
    one per input sample), which the search and the study then draw with the inputs.
    ``min_batch_size``: the smallest ``inputs.batch_size`` the score is defined for
    (:meth:`tenas.scoring.ScoringRecipe.check` refuses smaller ones).
    ``batched``: optional ``(supernet, inputs, alive_sets, **options) -> list of scores``, the
    same scores for many alive-sets of one supernet in one computation (a search's
    ``compute.candidate_batch``; see :func:`tenas.ntk.candidate_condition_numbers`).
    ``batches``: how a shared-pass proxy reads a list of batches: ``"concat"``, one pass of their
    concatenation (NASLib's measures), or ``"mean"``, the mean of one pass per batch (AZ-NAS's).
    """
    from tenas.proxies._pass import NEEDS

    if set(needs) - set(NEEDS) or batches not in ("concat", "mean"):
        raise ValueError(f"proxy {name}: needs {sorted(needs)} must be among {list(NEEDS)}, batches 'concat' or 'mean'")

    def deco(fn):
        summary = (fn.__doc__ or "").strip().splitlines()
        PROXIES[name] = Proxy(name, fn, higher_is_better, needs_targets, summary[0] if summary else "", min_batch_size, batched,
                              frozenset(needs), batches)
        return fn

    return deco


def get_proxy(name: str) -> Proxy:
    if name not in PROXIES:
        raise ValueError(f"unknown proxy {name!r}; known: {list_proxies()}")
    return PROXIES[name]


def list_proxies() -> list[str]:
    return sorted(PROXIES)
