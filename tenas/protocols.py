"""The proxy protocols' settings (``proxy.<name>``, ``ranking.proxy``, ``search_space.proxy``, ``protocol.proxy``:
network, init, inputs, options, schedule) and the search protocol's own (``conf/protocol/``): each change
names a registered proxy and known keys, each recipe's values pass the tables, and a recipe is checked
against the network it will score and the dataset (:meth:`tenas.scoring.ScoringRecipe.check`)."""
from __future__ import annotations

import inspect
from typing import Any

from tenas.errors import TenasError
from tenas.proxies import BASE_SETTINGS, PROXIES, list_proxies
from tenas.pruning import INPUT_SCHEDULES, WEIGHT_SCHEDULES
from tenas.ranking import TIE_RULES
from tenas.schema import ABSENT, Setting, lookup
from tenas.scoring import ScoringRecipe


#: A proxy protocol's network (checked before the network is built); its ``init``, ``inputs`` and ``options``
#: are checked against the network and the dataset by :meth:`tenas.scoring.ScoringRecipe.check`.
PROTOCOL = (
    Setting("network.C", "int", 1, null=True, hint="null = the search space's width"),
    Setting("network.N", "int", 1, null=True, hint="null = the search space's cells per stage"),
    Setting("network.stem", "bool"),
)

#: Keyword options of proxies whose function takes ``**options`` (so no signature tells what is allowed).
PROXY_OPTIONS = {
    "ntk": (
        Setting("chunk_size", "int", 1, null=True, required=False, hint="cotangents per batched backward; null = all at once"),
        Setting("fallback", "number", required=False),
        Setting("train", "bool", required=False),
    ),
}


def check_schedule(where: str, value) -> None:
    """A proxy's draw ``schedule`` (``tenas.pruning.score_candidates``): ``weights`` and ``inputs`` of the known kinds."""

    allowed = {"weights": WEIGHT_SCHEDULES, "inputs": INPUT_SCHEDULES}
    if not isinstance(value, dict):
        raise TenasError(f"{where}: must be a mapping with keys {sorted(allowed)}")
    for key, choice in value.items():
        if key not in allowed:
            raise TenasError(f"{where}.{key}: unknown setting; known: {sorted(allowed)}")
        if choice not in allowed[key]:
            raise TenasError(f"{where}.{key}: got {choice!r}; allowed: {list(allowed[key])}")

def check_protocol(cfg) -> None:
    """The search protocol's own settings (``conf/protocol/``): Δ rounding, rank digits and tie rule."""

    decimals, digits, ties = (lookup(cfg, f"protocol.{k}") for k in ("delta_decimals", "rank_significant_digits", "rank_ties"))
    if decimals not in (None, ABSENT) and (isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0):
        raise TenasError(f"protocol.delta_decimals: got {decimals!r}; allowed: null or an integer >= 0")
    if digits is not ABSENT and (isinstance(digits, bool) or not isinstance(digits, int) or digits < 1):
        raise TenasError(f"protocol.rank_significant_digits: got {digits!r}; allowed: an integer >= 1")
    if ties is not ABSENT and ties not in TIE_RULES:
        raise TenasError(f"protocol.rank_ties: got {ties!r}; allowed: {list(TIE_RULES)}")

def check_proxy_layers(layers: dict[str, Any]) -> None:
    """Each protocol change (``proxy.<name>``, ``ranking.proxy.<name>``, ...) names a registered proxy and known keys."""

    for where, layer in layers.items():
        if layer in (None, ABSENT):
            continue
        if not isinstance(layer, dict):
            raise TenasError(f"{where}: must be a mapping proxy name -> protocol changes")
        for name, change in layer.items():
            if name not in PROXIES:
                raise TenasError(f"{where}.{name}: unknown proxy {name!r}; known: {list_proxies()}")
            if change is None:
                continue
            if not isinstance(change, dict):
                raise TenasError(f"{where}.{name}: must be a mapping of protocol settings ({sorted(BASE_SETTINGS)})")
            for section, value in change.items():
                if section == "schedule":
                    check_schedule(f"{where}.{name}.schedule", value)
                    continue
                if section not in BASE_SETTINGS:
                    raise TenasError(f"{where}.{name}.{section}: unknown protocol setting; known: {sorted([*BASE_SETTINGS, 'schedule'])}")
                base = BASE_SETTINGS[section]
                if isinstance(base, dict) and section != "options":
                    if not isinstance(value, dict):
                        raise TenasError(f"{where}.{name}.{section}: must be a mapping with keys {sorted(base)}")
                    for key in value:
                        if key not in base:
                            raise TenasError(f"{where}.{name}.{section}.{key}: unknown setting; known: {sorted(base)}")

def load_recipes(names: list[str], key: str, layers: dict[str, Any]) -> list:
    """The :class:`ScoringRecipe` of each proxy of ``names`` (reported against ``key``), its protocol checked by the tables."""

    check_proxy_layers(layers)
    recipes = []
    for name in names:
        if name not in PROXIES:
            raise TenasError(f"{key}: unknown proxy {name!r}; known: {list_proxies()}")
        try:
            recipe = ScoringRecipe.load(name, *((layer or {}).get(name) for layer in layers.values() if layer is not ABSENT))
        except Exception as err:
            raise TenasError(f"proxy.{name}: {' '.join(str(err).split())[:200]}") from None
        for setting in PROTOCOL:
            setting.check(lookup(recipe.settings, setting.key), f"proxy.{name}.{setting.key}")
        options = recipe.settings["options"]
        if not isinstance(options, dict):
            raise TenasError(f"proxy.{name}.options: must be a mapping of keyword options")
        signature = inspect.signature(recipe.proxy.fn)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        if not takes_any:  # options follow (pass_) for a shared-pass proxy, (model, inputs) for the others
            given = list(signature.parameters.items())[1 if recipe.proxy.needs else 2:]
            accepted = sorted(p for p, v in given if v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD) and p != "targets")
            for option in options:
                if option not in accepted:
                    raise TenasError(f"proxy.{name}.options.{option}: unknown option of {name}; known: {accepted}")
        for setting in PROXY_OPTIONS.get(name, ()):
            setting.check(options.get(setting.key, ABSENT), f"proxy.{name}.options.{setting.key}")
        recipes.append(recipe)
    return recipes

def check_recipe_on(recipe, net, dataset) -> None:
    """``recipe`` against the network it scores and the dataset, or a one-line error against ``proxy.<name>``."""
    try:
        recipe.check(net, dataset)
    except ValueError as err:
        message = str(err)
        raise TenasError(message if message.startswith("proxy.") else f"proxy.{recipe.name}: {message}") from None
