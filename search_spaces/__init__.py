"""Search spaces for tenas: what can be built.

Each space is a subpackage (``nasbench201``, ``darts``) that registers a
:class:`~search_spaces.base.SearchSpace` under its name; the registry is the one
place a name maps to a space. A space knows its op table, its cells and their
edges, the settings it is built from, how to build the scoring supernet, how an
alive-set with one op per edge becomes a genotype, how a genotype is written,
read back and built as a network to train. It knows nothing of proxies or pruning.
"""
from search_spaces.base import AliveSet, SearchSpace, get_space, list_spaces, register_space, space_class, space_from_config

__all__ = ["AliveSet", "SearchSpace", "get_space", "list_spaces", "register_space", "space_class", "space_from_config"]
