import inspect
import itertools

import pandas as pd
import pytest
import torch

from search_spaces import get_space, list_spaces
from search_spaces.nasbench201 import EDGES, OP_NAMES, NB201Network, format_arch, network_for_arch, parse_arch
from search_spaces.nasbench201.model import CELL, Cell
from search_spaces.nasbench201.ops import OPS
from tenas.init import kaiming_init_

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def test_every_architecture_string_round_trips():
    """All 5^6 = 15,625 architectures of the space (no benchmark file needed)."""
    seen = set()
    for ops in itertools.product(OP_NAMES, repeat=6):
        arch = format_arch(ops)
        assert parse_arch(arch) == ops
        seen.add(arch)
    assert len(seen) == 15625


def test_the_benchmark_table_uses_our_strings_and_edge_order(nb201_csv):
    """Real data: the NAS-Bench-201 table's strings and its op indices follow the same edge order."""
    table = pd.read_csv(nb201_csv)
    assert len(table) == 15625
    names = {i: op for i, op in enumerate(OP_NAMES)}
    for arch, order in zip(table["arch_str"], table["ops_nb201_order"]):
        ops = parse_arch(arch)
        assert format_arch(ops) == arch
        assert [names[int(k)] for k in str(order).zfill(6)] == list(ops)


def test_all_op_combinations_round_trip():
    for ops in itertools.islice(itertools.product(OP_NAMES, repeat=6), 0, None, 97):
        assert parse_arch(format_arch(ops)) == ops


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("", "3 nodes"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 nodes"),
        ("|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv_7x7'"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "op~0"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "needs 2 inputs"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "wrapped"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "op~0"),
    ],
)
def test_malformed_strings_are_rejected_with_a_reason(bad, reason):
    with pytest.raises(ValueError, match=reason):
        parse_arch(bad)


def test_edge_order_is_the_benchmarks():
    assert EDGES == ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def _edge_inputs(C=4):
    torch.manual_seed(0)
    return torch.randn(6, C, 8, 8)


def test_edge_outputs_the_average_of_its_alive_ops():
    torch.manual_seed(0)
    cell = Cell(4, [list(OP_NAMES)] * 6).train()
    x = _edge_inputs()
    singles = {}
    # the only route to the cell output (node 3) is edge 0 (node1 <- 0) then a skip (node3 <- node1)
    route = [[] for _ in range(6)]
    route[4] = ["skip_connect"]  # node3 <- node1
    for op in OP_NAMES[1:]:
        route[0] = [op]
        singles[op] = cell(x, route)
    route[0] = ["skip_connect", "nor_conv_3x3", "avg_pool_3x3"]
    mixed = cell(x, route)
    expected = (singles["skip_connect"] + singles["nor_conv_3x3"] + singles["avg_pool_3x3"]) / 3
    torch.testing.assert_close(mixed, expected, rtol=1e-5, atol=1e-6)
    # 'none' alive still counts in the average (it adds zeros)
    route[0] = ["none", "nor_conv_1x1"]
    torch.testing.assert_close(cell(x, route), singles["nor_conv_1x1"] / 2, rtol=1e-5, atol=1e-6)


def test_switched_off_op_contributes_nothing():
    space = get_space("nasbench201")
    net = space.build_supernet(num_classes=10).train()
    kaiming_init_(net, torch.Generator().manual_seed(0))
    x = torch.randn(8, 3, 32, 32)
    alive = space.full_alive_set().without_op_everywhere("none").without(CELL, 3, "nor_conv_3x3")
    with net.trying(alive):
        before = net(x)
    # poison the switched-off op's weights in every cell: the output must not change
    with torch.no_grad():
        for cell in (m for m in net.modules() if isinstance(m, Cell)):
            for p in cell.edges[3]["nor_conv_3x3"].parameters():
                p.fill_(float("nan"))
    with net.trying(alive):
        after = net(x)
    torch.testing.assert_close(before, after)
    # ... and switching it back on does change it
    with net.trying(space.full_alive_set()):
        assert torch.isnan(net(x)).any()


def test_alive_set_is_read_at_forward_time_without_rebuilding():
    space = get_space("nasbench201")
    net = space.build_supernet(num_classes=10).train()
    x = torch.randn(4, 3, 32, 32)
    full = space.full_alive_set()
    smaller = full.without(CELL, 0, "nor_conv_3x3")
    ids = [id(m) for m in net.modules()]
    a = net(x)
    with net.trying(smaller):
        b = net(x)
    assert net.alive == full
    assert [id(m) for m in net.modules()] == ids
    assert not torch.allclose(a, b)


def test_single_path_supernet_equals_standalone_network():
    space = get_space("nasbench201")
    supernet = NB201Network(C=8, N=2, num_classes=10).eval()
    kaiming_init_(supernet, torch.Generator().manual_seed(1))
    standalone = network_for_arch(BEST, C=8, N=2, num_classes=10).eval()
    state = {k: v for k, v in supernet.state_dict().items() if k in standalone.state_dict()}
    assert set(state) == set(standalone.state_dict())
    standalone.load_state_dict(state)
    x = torch.randn(4, 3, 32, 32)
    supernet.set_alive(space.alive_set_for(BEST))
    torch.testing.assert_close(supernet(x), standalone(x))
    assert space.genotype(supernet.alive) == BEST


def test_standalone_network_has_the_benchmark_layout():
    net = network_for_arch(BEST)
    assert sum(isinstance(m, Cell) for m in net.modules()) == 15
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    # by hand: 5 conv3x3+BN per cell at C=16/32/64 (58,400 + 232,000 + 924,800), residual blocks
    # (14,464 + 57,600), stem 464, last BN 128, classifier 650
    assert sum(p.numel() for p in net.parameters()) == 1_288_506


def test_genotype_refuses_before_the_search_is_done():
    space = get_space("nasbench201")
    with pytest.raises(ValueError, match="not done"):
        space.genotype(space.full_alive_set())


@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("C_in", [4, 6])
@pytest.mark.parametrize("size", [8, 9])
def test_every_op_gives_C_out_channels_at_its_stride(name, stride, C_in, size):
    """Every op of the table at stride 1 and 2, keeping or changing the width: (n, C_out, ceil(size / stride))."""
    torch.manual_seed(0)
    op = OPS[name](C_in, 4, stride).train()
    x = torch.randn(2, C_in, size, size)
    out = op(x)
    side = -(-size // stride)
    assert out.shape == (2, 4, side, side)
    if name == "none":
        assert not out.any()
    else:
        assert out.abs().sum() > 0 and torch.isfinite(out).all()
    if name == "skip_connect" and stride == 1 and C_in == 4:
        assert torch.equal(out, x)  # the identity


@pytest.mark.parametrize("name", list_spaces())
def test_a_study_scores_the_supernets_single_path_as_a_standalone_network(name):
    """Every space with a study network: with the supernet's weights, it computes what the supernet computes on
    that architecture's single path (a space without one says so)."""
    space = get_space(name)
    alive = space.random_single_path(torch.Generator().manual_seed(3))
    genotype = space.genotype(alive)
    options = {k: v for k, v in {"C": 4, "N": 1}.items() if k in inspect.signature(space.build_supernet).parameters}
    try:
        standalone = space.scoring_network(space.genotype_text(genotype), num_classes=10, **options).eval()
    except NotImplementedError as err:
        assert name in str(err)
        return
    supernet = space.build_supernet(num_classes=10, **options).eval()
    kaiming_init_(supernet, torch.Generator().manual_seed(1))
    own = standalone.state_dict()
    state = {k: v for k, v in supernet.state_dict().items() if k in own}
    assert set(state) == set(own)
    standalone.load_state_dict(state)
    supernet.set_alive(alive)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(supernet(x), standalone(x))
    assert space.scoring_network(None, num_classes=10, **options).state_dict().keys() == supernet.state_dict().keys()


def test_an_alive_set_that_is_not_a_single_path_has_no_genotype():
    """Every edge must hold exactly one op: the full supernet, and six ops spread unevenly (an edge with none
    beside one with two, the right count in all), are refused rather than read as an architecture."""
    space = get_space("nasbench201")
    with pytest.raises(ValueError, match="more than one op"):
        space.genotype(space.full_alive_set())
    uneven = space.alive_set_for(BEST)
    uneven.masks[CELL][0] = False
    uneven.masks[CELL][1, :2] = True
    uneven.masks[CELL][1, 2:] = False
    assert int(uneven.masks[CELL].sum()) == len(EDGES)
    with pytest.raises(ValueError, match="more than one op"):
        space.genotype(uneven)
