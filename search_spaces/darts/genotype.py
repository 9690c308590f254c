"""DARTS genotypes: the ``Genotype`` namedtuple of the DARTS training code, checked, printed and parsed.

A cell has inputs 0 and 1 (the outputs of the two previous cells) and 4
intermediate nodes 2..5; intermediate node ``i`` (0-based, i.e. state ``i + 2``)
reads inputs ``0 .. i + 1``, which makes 2 + 3 + 4 + 5 = 14 edges, numbered node
by node and input by input (``EDGES``). A genotype lists, per cell type, two
``(op, input)`` pairs per node in node order, and the concatenated nodes
``[2, 3, 4, 5]``; ``repr`` of a checked genotype pastes into a DARTS ``genotypes.py``.
"""
from __future__ import annotations

import ast
from collections import namedtuple

from search_spaces.darts.ops import OP_NAMES

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

NUM_NODES = 4
INPUTS_PER_NODE = 2
CONCAT = [2, 3, 4, 5]
CELL_TYPES = ("normal", "reduce")
#: (intermediate node, input) of each edge
EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(NUM_NODES) for j in range(i + 2))
NODE_EDGES: tuple[tuple[int, ...], ...] = tuple(tuple(e for e, (i, _) in enumerate(EDGES) if i == node) for node in range(NUM_NODES))

#: DARTS (second order) on CIFAR-10, from the DARTS paper; 3.3M parameters at 20 cells, C=36
DARTS_V2 = Genotype(
    normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
    normal_concat=[2, 3, 4, 5],
    reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1), ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
    reduce_concat=[2, 3, 4, 5],
)


def edge_index(node: int, source: int) -> int:
    """The index in ``EDGES`` of the edge from ``source`` into intermediate node ``node``."""
    return EDGES.index((node, source))


def _check_cell(cell_type: str, pairs) -> list[tuple[str, int]]:
    if not isinstance(pairs, (list, tuple)) or len(pairs) != NUM_NODES * INPUTS_PER_NODE:
        raise ValueError(f"genotype {cell_type}: expected {NUM_NODES * INPUTS_PER_NODE} (op, input) pairs, got {str(pairs)[:80]}")
    out = []
    for k, pair in enumerate(pairs):
        node = k // INPUTS_PER_NODE
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str) or type(pair[1]) is not int:
            raise ValueError(f"genotype {cell_type}: pair {k} must be (op name, input index), got {pair!r}")
        op, source = pair
        if op not in OP_NAMES or op == "none":
            raise ValueError(f"genotype {cell_type}: unknown op {op!r}; DARTS ops are {list(OP_NAMES[1:])}")
        if not 0 <= source < node + 2:
            raise ValueError(f"genotype {cell_type}: node {node + 2} cannot read input {source} (inputs 0..{node + 1})")
        out.append((op, source))
    for node in range(NUM_NODES):
        a, b = out[2 * node][1], out[2 * node + 1][1]
        if a == b:
            raise ValueError(f"genotype {cell_type}: node {node + 2} reads input {a} twice")
        if a > b:
            out[2 * node], out[2 * node + 1] = out[2 * node + 1], out[2 * node]
    return out


def check_genotype(genotype) -> Genotype:
    """A canonical copy of a genotype-like value: lists of tuples, each node's two pairs ordered by input.

    Raises ValueError with a one-line reason for anything that is not a buildable DARTS genotype.
    """
    if not (isinstance(genotype, tuple) and len(genotype) == 4):
        raise ValueError(f"not a DARTS Genotype: {type(genotype).__name__}")
    g = Genotype(*genotype)
    for name in ("normal_concat", "reduce_concat"):
        concat = getattr(g, name)
        concat = list(concat) if isinstance(concat, (list, tuple, range)) else concat
        if concat != CONCAT:
            raise ValueError(f"genotype {name} must be {CONCAT} (4 intermediate nodes, all concatenated), got {concat!r}")
    return Genotype(_check_cell("normal", g.normal), list(CONCAT), _check_cell("reduce", g.reduce), list(CONCAT))


def format_genotype(genotype) -> str:
    """The Python repr, e.g. ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)``."""
    return repr(check_genotype(genotype))


def genotype_to_dict(genotype) -> dict:
    g = check_genotype(genotype)
    return {f: [list(p) for p in v] if f in CELL_TYPES else list(v) for f, v in g._asdict().items()}


def genotype_from_dict(data) -> Genotype:
    """Inverse of :func:`genotype_to_dict` (JSON lists accepted for pairs)."""
    if not isinstance(data, dict):
        raise ValueError(f"a DARTS genotype must be a JSON object, got {type(data).__name__}")
    missing = [f for f in Genotype._fields if f not in data]
    if missing or len(data) != len(Genotype._fields):
        raise ValueError(f"a DARTS genotype has exactly the fields {list(Genotype._fields)}, got {sorted(data)}")
    return check_genotype(tuple(data[f] for f in Genotype._fields))


def _literal(node: ast.AST):
    """A literal, or ``range(a, b)`` (as DARTS's own ``genotypes.py`` writes concat)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and not node.keywords:
        return list(range(*(ast.literal_eval(a) for a in node.args)))
    return ast.literal_eval(node)


def parse_genotype(text: str) -> Genotype:
    """Parse ``Genotype(normal=[...], normal_concat=[...], reduce=[...], reduce_concat=[...])`` without evaluating it."""
    if not isinstance(text, str):
        raise ValueError(f"a genotype string is needed, got {type(text).__name__}")
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ValueError(f"malformed genotype {text.strip()[:60]!r}: not a Genotype(...) expression") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise ValueError(f"malformed genotype {text.strip()[:60]!r}: expected Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)")
    try:
        values = [_literal(a) for a in call.args]
        fields = dict(zip(Genotype._fields, values))
        for kw in call.keywords:
            if kw.arg is None or kw.arg in fields:
                raise ValueError(f"repeated or unnamed argument {kw.arg!r}")
            fields[kw.arg] = _literal(kw.value)
    except (ValueError, TypeError, SyntaxError) as err:
        raise ValueError(f"malformed genotype {text.strip()[:60]!r}: {str(err).splitlines()[0]}") from None
    return genotype_from_dict(fields)
