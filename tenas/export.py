"""Genotype files read back: what a search exported, ready to build and retrain (with the recipe
:func:`resolve_recipe` picks for it).

Accepted files: a search's ``genotype.json`` (its ``search_space`` names a registered
space, whose :meth:`~search_spaces.base.SearchSpace.genotype_from_json` reads the other
fields: NAS-Bench-201's ``arch``, DARTS's ``genotype`` and/or ``genotype_repr``), or a
text file holding one genotype in a space's notation (a DARTS ``Genotype(...)``
expression, a NAS-Bench-201 architecture string). Anything else is a
:class:`TenasError` with a one-line reason.
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from search_spaces import SearchSpace, get_space, list_spaces
from tenas.errors import TenasError


@dataclass(frozen=True)
class SearchedArchitecture:
    """A checked genotype of the space named ``search_space``."""

    search_space: str
    genotype: object

    @property
    def space(self) -> SearchSpace:
        return get_space(self.search_space)

    def text(self) -> str:
        """The genotype as one line (the space's :meth:`~search_spaces.base.SearchSpace.genotype_text`)."""
        return self.space.genotype_text(self.genotype)


def architecture_from_json(data) -> SearchedArchitecture:
    """The architecture of a ``genotype.json``'s contents; ValueError with a one-line reason otherwise."""
    if not isinstance(data, dict) or "search_space" not in data:
        raise ValueError("a JSON object with a 'search_space' field is expected (a tenas genotype.json)")
    name = data["search_space"]
    return SearchedArchitecture(name, get_space(name).genotype_from_json(data))


def read_genotype_file(path) -> SearchedArchitecture:
    """The architecture in a genotype file (see the module docstring); TenasError with a one-line reason otherwise."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise TenasError(f"genotype file not found: {path} (genotype=PATH to a search's genotype.json)")
    try:
        text = path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise TenasError(f"{path}: not a genotype file (not UTF-8 text)") from None
    try:
        if text.startswith("{") or text.startswith("["):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise ValueError(f"not valid JSON ({err.msg} at line {err.lineno})") from None
            return architecture_from_json(data)
        for name in list_spaces():
            space = get_space(name)
            if space.is_genotype_text(text):
                return SearchedArchitecture(name, space.parse_genotype(text))
    except ValueError as err:
        raise TenasError(f"{path}: {err}") from None
    raise TenasError(f"{path}: not a genotype file (expected a tenas genotype.json or one genotype in the notation of a search space: "
                     f"{', '.join(list_spaces())})")


def resolve_recipe(cfg: DictConfig, arch: SearchedArchitecture) -> dict:
    """The recipe ``cfg.recipe`` names (``auto``: the one the genotype's space retrains with on the dataset)
    with the non-null ``trainer`` overrides."""
    space = arch.space
    name = space.train_recipe(cfg.dataset.name) if cfg.recipe == "auto" else cfg.recipe
    if name not in cfg.recipes:
        raise TenasError(f"unknown recipe {name!r}; known: {sorted(cfg.recipes)}")
    recipe = OmegaConf.to_container(cfg.recipes[name], resolve=True)
    accepted = set(inspect.signature(space.network).parameters) - {"genotype", "num_classes", "auxiliary"}
    if not set(recipe["network"]) <= accepted:
        raise TenasError(f"recipe {name!r} does not build {arch.search_space} networks (their settings: {sorted(accepted)})")
    recipe.update({k: v for k, v in OmegaConf.to_container(cfg.trainer, resolve=True).items() if k in recipe and v is not None})
    return {"name": name, **recipe}
