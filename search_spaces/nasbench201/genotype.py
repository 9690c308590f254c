"""NAS-Bench-201 architecture strings.

An architecture is six ops, one per edge of the 4-node cell, in the benchmark's
order: node1<-0 | node2<-0, node2<-1 | node3<-0, node3<-1, node3<-2, written
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.
"""
from __future__ import annotations

from search_spaces.nasbench201.ops import OP_NAMES

NUM_NODES = 4
# (target node, source node) of each edge, in string order
EDGES: tuple[tuple[int, int], ...] = tuple((j, i) for j in range(1, NUM_NODES) for i in range(j))


def parse_arch(arch: str) -> tuple[str, ...]:
    """Parse an architecture string into its six op names (edge order above).

    Raises ValueError with a one-line reason for a malformed string or an unknown op.
    """
    if not isinstance(arch, str):
        raise ValueError(f"architecture must be a string, got {type(arch).__name__}")
    nodes = arch.strip().split("+")
    if len(nodes) != NUM_NODES - 1:
        raise ValueError(f"malformed NAS-Bench-201 string {arch!r}: expected {NUM_NODES - 1} nodes separated by '+', got {len(nodes)}")
    ops: list[str] = []
    for j, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
            raise ValueError(f"malformed NAS-Bench-201 string {arch!r}: node {j} {node!r} must be wrapped in '|'")
        items = node[1:-1].split("|")
        if len(items) != j:
            raise ValueError(f"malformed NAS-Bench-201 string {arch!r}: node {j} needs {j} inputs, got {len(items)}")
        for i, item in enumerate(items):
            op, sep, src = item.rpartition("~")
            if not sep or src != str(i):
                raise ValueError(f"malformed NAS-Bench-201 string {arch!r}: {item!r} should read 'op~{i}'")
            if op not in OP_NAMES:
                raise ValueError(f"unknown op {op!r} in {arch!r}; NAS-Bench-201 ops are {list(OP_NAMES)}")
            ops.append(op)
    return tuple(ops)


def format_arch(ops) -> str:
    """The architecture string of six op names (edge order above)."""
    ops = list(ops)
    if len(ops) != len(EDGES):
        raise ValueError(f"NAS-Bench-201 needs {len(EDGES)} ops, got {len(ops)}")
    for op in ops:
        if op not in OP_NAMES:
            raise ValueError(f"unknown op {op!r}; NAS-Bench-201 ops are {list(OP_NAMES)}")
    nodes, k = [], 0
    for j in range(1, NUM_NODES):
        nodes.append("|" + "|".join(f"{ops[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(nodes)
