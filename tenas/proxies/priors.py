"""Architecture priors: proxies read off the cell's genotype, with no forward and no weights (higher = better).

A prior scores the architecture a network holds: ``model.alive`` (the alive-set of a
:class:`search_spaces.base.Supernet`, a standalone network's single path included) on the
cell graph ``model.cell_edges`` (per cell type, the ``(target node, source node)`` of each
edge; node 0 is the cell's input, the last node its output). A network that states neither
is refused with a ``ValueError``. The weights and the inputs are never read, so the scores
are the same for every draw; a supernet in the middle of pruning (several ops alive on an
edge) is scored over every op alive.

- ``skip_prior`` (FreeREA, Cavagnero et al. 2023, ``_skip`` in its ``nas_spaces/nats.py``):
  the mean, over the cell's skip connections, of the intermediate nodes each one bypasses
  (``target - source - 1``: 0 between neighbouring nodes, 2 from the input to the output of a
  NAS-Bench-201 cell); 0 for a cell with no skip connection.
- ``longest_path``: edges on the longest input-to-output path through ops other than
  ``none`` (0 when the output is not reached).
- ``param_ops``: the number of ops with weights (convolutions) alive in the cell.

With several cell types the score is the mean over them.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from tenas.proxies._registry import register_proxy

PARAMETRIC = ("conv", "sep_", "dil_")  # op names holding weights contain one of these


def cell_graph(model: nn.Module) -> list[tuple[list[tuple[int, int]], list[list[str]]]]:
    """Per cell type, its edges ``(target, source)`` and the ops alive on each edge."""
    alive, edges = getattr(model, "alive", None), getattr(model, "cell_edges", None)
    if alive is None or edges is None:
        raise ValueError(f"{type(model).__name__} does not state its architecture (it needs .alive and .cell_edges): "
                         "priors score the networks of a search space")
    return [(list(edges[cell]), [alive.alive_ops(cell, e) for e in range(len(edges[cell]))]) for cell in edges]


def _mean_over_cells(model, per_cell) -> float:
    return float(np.mean([per_cell(edges, ops) for edges, ops in cell_graph(model)]))


def skip_bypass(edges, ops) -> float:
    """FreeREA's skip prior of one cell: mean intermediate nodes bypassed per skip connection (0 without one)."""
    spans = [target - source - 1 for (target, source), alive in zip(edges, ops) for op in alive if op == "skip_connect"]
    return float(np.mean(spans)) if spans else 0.0


def longest_path_length(edges, ops) -> float:
    """Edges on the longest path from node 0 to the last node through ops other than ``none``; 0 if none reaches it."""
    last = max(max(edge) for edge in edges)
    depth = {0: 0}
    for target in range(1, last + 1):  # edges run from lower to higher nodes: one pass in node order
        reach = [depth[source] + 1 for (t, source), alive in zip(edges, ops)
                 if t == target and source in depth and any(op != "none" for op in alive)]
        if reach:
            depth[target] = max(reach)
    return float(depth.get(last, 0))


def parametric_ops(edges, ops) -> float:
    """Ops with weights (convolutions) alive in the cell."""
    return float(sum(any(p in op for p in PARAMETRIC) for alive in ops for op in alive))


@register_proxy("skip_prior", higher_is_better=True)
def skip_prior(model, inputs) -> float:
    """FreeREA's skip prior: mean intermediate nodes bypassed per skip connection of the cell (no network run)."""
    return _mean_over_cells(model, skip_bypass)


@register_proxy("longest_path", higher_is_better=True)
def longest_path(model, inputs) -> float:
    """Edges on the cell's longest input-to-output path through ops other than none (no network run)."""
    return _mean_over_cells(model, longest_path_length)


@register_proxy("param_ops", higher_is_better=True)
def param_ops(model, inputs) -> float:
    """Ops with weights (convolutions) alive in the cell (no network run)."""
    return _mean_over_cells(model, parametric_ops)
