"""The declarative rules settings are checked by: a :class:`Setting` (key, kind, range or choices, null
allowed), :func:`lookup` of a dotted key in a composed config, and :func:`check_table`. Each room declares
its own tables with them (a strategy its ``settings`` when registered, :mod:`tenas.strategies`);
:mod:`tenas.settings` checks every entry point's config with them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from omegaconf import DictConfig, ListConfig, OmegaConf

from tenas.errors import TenasError

ABSENT = object()  # the key is not in the config
MISSING = object()  # the key is ``???``


# ----------------------------------------------------------------------------- declarative rules
@dataclass(frozen=True)
class Setting:
    """One setting: its key path, its kind (``int``, ``number``, ``bool``, ``str``, ``path``, ``names``),
    its range (``low``/``high``, ``open_low``: ``low`` itself excluded) or ``choices``, and whether
    ``null`` is allowed. ``required=False``: an absent key is fine (its code default applies). ``default``:
    the value a room builds its config node from, when the setting is declared nowhere else (a strategy's)."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple | None = None
    null: bool = False
    required: bool = True
    hint: str = ""
    default: Any = None

    def allowed(self) -> str:
        if self.choices is not None:
            text = f"one of {list(self.choices)}" if self.kind != "names" else f"a non-empty list of {list(self.choices)}"
        elif self.kind in ("int", "number"):
            text = "an integer" if self.kind == "int" else "a number"
            bounds = []
            if self.low is not None:
                bounds.append(f"{'>' if self.open_low else '>='} {_fmt(self.low)}")
            if self.high is not None:
                bounds.append(f"{'<' if self.open_high else '<='} {_fmt(self.high)}")
            text += (" " + " and ".join(bounds)) if bounds else ""
        else:
            text = {"bool": "true or false", "str": "a non-empty string", "path": "a file or folder path",
                    "names": "a non-empty list of names"}[self.kind]
        return text + (" or null" if self.null else "") + (f" ({self.hint})" if self.hint else "")

    def check(self, value, key: str | None = None) -> None:
        """Raise a one-line :class:`TenasError` unless ``value`` is allowed."""
        key = key or self.key
        if value is ABSENT:
            if self.required:
                raise TenasError(f"{key}: missing; allowed: {self.allowed()}")
            return
        if value is MISSING:
            raise TenasError(f"{key}: required (???); allowed: {self.allowed()}")
        if value is None:
            if not self.null:
                raise TenasError(f"{key}: null is not allowed; allowed: {self.allowed()}")
            return
        if not self.accepts(value):
            raise TenasError(f"{key}: got {_show(value)}; allowed: {self.allowed()}")

    def accepts(self, value) -> bool:
        kind = self.kind
        if kind == "bool":
            return isinstance(value, bool)
        if kind in ("int", "number"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            if kind == "int" and not isinstance(value, int):
                return False
            if not math.isfinite(value):
                return False
            if self.low is not None and (value <= self.low if self.open_low else value < self.low):
                return False
            if self.high is not None and (value >= self.high if self.open_high else value > self.high):
                return False
            return self.choices is None or value in self.choices
        if kind in ("str", "path"):
            return isinstance(value, str) and value.strip() != "" and (self.choices is None or value in self.choices)
        if kind == "names":
            return (isinstance(value, list) and len(value) > 0 and all(isinstance(v, str) and v for v in value)
                    and (self.choices is None or all(v in self.choices for v in value)))
        raise AssertionError(kind)


def _fmt(x) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _show(value) -> str:
    """``value`` as written, with its type when that is not a plain number (``true (bool)``, ``'3' (str)``)."""
    text = repr(value)[:80]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{text} ({type(value).__name__})"
    return text


def lookup(cfg, key: str):
    """The plain value at dotted ``key`` (lists and mappings as Python containers), or ABSENT / MISSING."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, (DictConfig, dict)) or part not in node:
            return ABSENT
        if isinstance(node, DictConfig) and OmegaConf.is_missing(node, part):
            return MISSING
        try:
            node = node[part]
        except Exception as err:  # an interpolation that does not resolve
            raise TenasError(f"{key}: cannot be resolved ({' '.join(str(err).split())[:160]})") from None
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def check_table(cfg, table: Iterable[Setting], prefix: str = "") -> None:
    for setting in table:
        key = prefix + setting.key
        setting.check(lookup(cfg, key), key)
