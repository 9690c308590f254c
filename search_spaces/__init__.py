"""Search spaces for tenas: what can be built.

Each space is a subpackage (``nasbench201``, ``darts``) that registers a
:class:`~search_spaces.base.SearchSpace` under its name. A space knows its op
table, its cells and their edges, how to build the scoring supernet, and how an
alive-set with one op per edge becomes a genotype. It knows nothing of proxies
or pruning.
"""
from search_spaces.base import AliveSet, SearchSpace, get_space, list_spaces, register_space

__all__ = ["AliveSet", "SearchSpace", "get_space", "list_spaces", "register_space"]
