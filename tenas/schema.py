"""The declarative rules settings are checked by: a :class:`Setting` (key, kind, range or choices, null
allowed), :func:`lookup` of a dotted key in a composed config, and :func:`check_table`. Each room declares
its own tables with them (a strategy its ``settings`` when registered, :mod:`tenas.strategies`; the
search its own in :mod:`tenas.search`, the study in :mod:`tenas.study.settings`, retraining in
:mod:`tenas.train`, the datasets in :mod:`tenas.data.settings`, the proxy protocols in
:mod:`tenas.protocols`, the costs in :mod:`tenas.costs`), and the checks every entry point shares: known
keys, the device, the strategy, a name among the known ones. A check raises
``TenasError("<setting>: <what is wrong and what is allowed>")``, which the entry points print as
``error: ...`` (one line, exit code 1)."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

from omegaconf import DictConfig, ListConfig, OmegaConf

from tenas import CONF_DIR
from tenas.errors import TenasError

ABSENT = object()  # the key is not in the config
MISSING = object()  # the key is ``???``


# ----------------------------------------------------------------------------- declarative rules
@dataclass(frozen=True)
class Setting:
    """One setting: its key path, its kind (``int``, ``number``, ``bool``, ``str``, ``path``, ``names``),
    its range (``low``/``high``, ``open_low``: ``low`` itself excluded) or ``choices``, and whether
    ``null`` is allowed. ``required=False``: an absent key is fine (its code default applies). ``default``:
    the value a room builds its config node from, when the setting is declared nowhere else (a strategy's).
    ``identity=False``: a run's outputs do not depend on it beyond their number (a size, a chunking), so a
    rerun in the run's folder may change it (:mod:`tenas.run_folder`)."""

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
    identity: bool = True

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


# ----------------------------------------------------------------------------- checks every entry point shares
COMMON = (
    Setting("seed", "int", 0),
    Setting("device", "str", hint="auto, cpu, cuda or cuda:N"),
)

def check_known_keys(cfg, section: str, config_name: str) -> None:
    """``section``'s keys must be those of ``conf/<config_name>.yaml`` (a ``+section.typo=...`` is an error)."""
    value = lookup(cfg, section)
    if value is ABSENT:
        raise TenasError(f"{section}: missing section (see conf/{config_name}.yaml)")
    if not isinstance(value, dict):
        raise TenasError(f"{section}: must be a mapping of settings (see conf/{config_name}.yaml)")
    known = OmegaConf.load(CONF_DIR / f"{config_name}.yaml").get(section) or {}
    for key in value:
        if key not in known:
            raise TenasError(f"{section}.{key}: unknown setting; known: {sorted(known)}")

def check_names(key: str, value: str, known: Iterable[str], what: str) -> None:
    known = sorted(known)
    if value not in known:
        raise TenasError(f"{key}: unknown {what} {value!r}; known: {known}")

_CUDA = re.compile(r"cuda(:(\d+))?")

def check_device(cfg) -> None:
    import torch

    name = lookup(cfg, "device")
    allowed = "auto, cpu, cuda or cuda:N"
    if name in ("auto", "cpu"):
        return
    match = _CUDA.fullmatch(name)
    if not match:
        raise TenasError(f"device: {name!r} is not a device; allowed: {allowed}")
    if not torch.cuda.is_available():
        raise TenasError(f"device: {name} requested but CUDA is not available; allowed here: auto or cpu")
    if match.group(2) is not None and int(match.group(2)) >= torch.cuda.device_count():
        raise TenasError(f"device: {name}: this machine has {torch.cuda.device_count()} CUDA device(s); allowed: cuda:0 to cuda:{torch.cuda.device_count() - 1}")

def check_strategy(cfg) -> None:
    """``strategy`` (a group some configs have): a registered strategy (:mod:`tenas.strategies`) and its settings."""
    if "strategy" not in cfg or cfg.get("strategy") is None:
        return
    from tenas.strategies import STRATEGIES

    value = lookup(cfg, "strategy")
    name = value.get("name") if isinstance(value, dict) else value
    key = "strategy.name" if isinstance(value, dict) else "strategy"
    if not isinstance(name, str) or name not in STRATEGIES:
        raise TenasError(f"{key}: {name!r} is not a strategy; known: {sorted(STRATEGIES)}")
    if not isinstance(value, dict):
        raise TenasError("strategy: must be a mapping of settings; allowed: strategy=<name> with strategy.<setting>=<value>")
    STRATEGIES[name].validate(value)
