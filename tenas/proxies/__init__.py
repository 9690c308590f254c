"""Training-free proxies: functions ``(model, inputs, **options) -> float`` behind one registry.

Every proxy leaves the model (mode, parameters, gradients, running statistics,
hooks) as it found it, and usable on any ``nn.Module``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tenas.ntk import ntk_condition_number
from tenas.proxies.linear_regions import count_linear_regions


@dataclass(frozen=True)
class Proxy:
    name: str
    fn: Callable[..., float]
    higher_is_better: bool
    doc: str = ""

    def __call__(self, model, inputs, **options) -> float:
        return self.fn(model, inputs, **options)


PROXIES: dict[str, Proxy] = {}


def register_proxy(name: str, higher_is_better: bool):
    def deco(fn):
        PROXIES[name] = Proxy(name, fn, higher_is_better, (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "")
        return fn

    return deco


def get_proxy(name: str) -> Proxy:
    if name not in PROXIES:
        raise ValueError(f"unknown proxy {name!r}; known: {sorted(PROXIES)}")
    return PROXIES[name]


def list_proxies() -> list[str]:
    return sorted(PROXIES)


register_proxy("ntk", higher_is_better=False)(ntk_condition_number)
register_proxy("linear_regions", higher_is_better=True)(count_linear_regions)
