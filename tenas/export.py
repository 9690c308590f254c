"""Genotype files read back: what a search exported, ready to build and retrain.

Accepted files: a search's ``genotype.json`` (``search_space`` is ``nasbench201``
with ``arch``, or ``darts`` with ``genotype`` as JSON and/or ``genotype_repr``),
or a text file holding one DARTS ``Genotype(...)`` expression or one
NAS-Bench-201 architecture string. Anything else is a :class:`TenasError` with a
one-line reason.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tenas.errors import TenasError

SPACES = ("nasbench201", "darts")


@dataclass(frozen=True)
class SearchedArchitecture:
    """A checked genotype of one space: an NB201 string or a DARTS ``Genotype``."""

    search_space: str
    genotype: object

    def text(self) -> str:
        """The genotype as one line: the NB201 string, or the DARTS ``Genotype(...)`` repr."""
        return self.genotype if self.search_space == "nasbench201" else repr(self.genotype)


def architecture(search_space: str, genotype) -> SearchedArchitecture:
    """Check ``genotype`` (NB201 string, DARTS Genotype / dict / repr string) for ``search_space``."""
    from search_spaces.darts import check_genotype, genotype_from_dict, parse_genotype
    from search_spaces.nasbench201 import format_arch, parse_arch

    if search_space == "nasbench201":
        return SearchedArchitecture(search_space, format_arch(parse_arch(genotype)))
    if search_space == "darts":
        if isinstance(genotype, str):
            return SearchedArchitecture(search_space, parse_genotype(genotype))
        if isinstance(genotype, dict):
            return SearchedArchitecture(search_space, genotype_from_dict(genotype))
        return SearchedArchitecture(search_space, check_genotype(genotype))
    raise ValueError(f"unknown search space {search_space!r}; tenas retrains {' and '.join(SPACES)} genotypes")


def _from_json(data) -> SearchedArchitecture:
    if not isinstance(data, dict) or "search_space" not in data:
        raise ValueError("a JSON object with a 'search_space' field is expected (a tenas genotype.json)")
    space = data["search_space"]
    if space == "nasbench201":
        if "arch" not in data:
            raise ValueError("a nasbench201 genotype file needs an 'arch' field")
        return architecture(space, data["arch"])
    if space == "darts":
        if "genotype" not in data and "genotype_repr" not in data:
            raise ValueError("a darts genotype file needs a 'genotype' or 'genotype_repr' field")
        arch = architecture(space, data["genotype"] if "genotype" in data else data["genotype_repr"])
        if "genotype" in data and "genotype_repr" in data and architecture(space, data["genotype_repr"]) != arch:
            raise ValueError("its 'genotype' and 'genotype_repr' fields disagree")
        return arch
    raise ValueError(f"unknown search space {space!r}; tenas retrains {' and '.join(SPACES)} genotypes")


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
            return _from_json(data)
        if text.startswith("Genotype"):
            return architecture("darts", text)
        if text.startswith("|"):
            return architecture("nasbench201", text)
    except ValueError as err:
        raise TenasError(f"{path}: {err}") from None
    raise TenasError(f"{path}: not a genotype file (expected a tenas genotype.json, a DARTS Genotype(...) or a NAS-Bench-201 string)")
