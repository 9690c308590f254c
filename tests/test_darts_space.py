import json
import random

import pytest
import torch

from search_spaces import get_space, list_spaces
from search_spaces.darts import (
    CELL_TYPES,
    DARTS_V2,
    EDGES,
    NODE_EDGES,
    OP_NAMES,
    OPS,
    DartsNetwork,
    Genotype,
    check_genotype,
    format_genotype,
    genotype_from_dict,
    genotype_ops,
    genotype_to_dict,
    network_for_genotype,
    parse_genotype,
)
from search_spaces.darts.model import Cell, drop_path
from tenas.complexity import count_flops, count_parameters
from tenas.init import kaiming_init_
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)
from tests.twins import assert_same_function



def random_genotype(rng: random.Random) -> Genotype:
    cells = []
    for _ in CELL_TYPES:
        pairs = []
        for node in range(4):
            for source in sorted(rng.sample(range(node + 2), 2)):
                pairs.append((rng.choice(OP_NAMES[1:]), source))
        cells.append(pairs)
    return Genotype(cells[0], [2, 3, 4, 5], cells[1], [2, 3, 4, 5])


@pytest.mark.parametrize("name", OP_NAMES)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [8, 9])
def test_every_op_keeps_channels_and_strides(name, stride, size):
    op = OPS[name](4, stride, True)
    out = op(torch.randn(2, 4, size, size))
    side = -(-size // stride)
    assert out.shape == (2, 4, side, side)
    if name == "none":
        assert not out.any()


@pytest.mark.parametrize("cell_type, reduction_prev", [("normal", False), ("normal", True), ("reduce", False)])
def test_reduction_cells_halve_resolution_and_cells_output_4C(cell_type, reduction_prev):
    cell = Cell(cell_type, [list(OP_NAMES)] * len(EDGES), C_prev_prev=6, C_prev=5, C=4, reduction_prev=reduction_prev)
    s0 = torch.randn(2, 6, 32 if reduction_prev else 16, 32 if reduction_prev else 16)
    s1 = torch.randn(2, 5, 16, 16)
    alive = [list(OP_NAMES)] * len(EDGES)
    side = 8 if cell_type == "reduce" else 16
    assert cell(s0, s1, alive).shape == (2, 16, side, side)


def test_edges_are_numbered_node_by_node():
    assert len(EDGES) == 14 and [len(e) for e in NODE_EDGES] == [2, 3, 4, 5]
    assert EDGES[:5] == ((0, 0), (0, 1), (1, 0), (1, 1), (1, 2))


def test_space_is_registered_and_its_supernet_masks_by_cell_type():
    assert "darts" in list_spaces()
    space = get_space("darts", C=2)
    net = space.build_supernet(num_classes=10)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    net.eval()
    x = torch.randn(4, 3, 16, 16)
    alive = space.full_alive_set().without_op_everywhere("none")
    net.set_alive(alive)
    base = net(x)
    assert base.shape == (4, 10)
    for cell_type in CELL_TYPES:
        fewer = alive.without(cell_type, 3, "sep_conv_3x3")
        with net.trying(fewer):
            assert not torch.allclose(net(x), base)
            # a switched-off op contributes nothing: perturbing its weights changes nothing
            cell = next(c for c in net.cells if c.cell_type == cell_type)
            out = net(x)
            with torch.no_grad():
                for p in cell.edges[3]["sep_conv_3x3"].parameters():
                    p.add_(1.0)
            assert torch.equal(net(x), out)
        assert net.alive == alive  # trying() restored the alive-set
        base = net(x)


def test_an_edge_with_nothing_alive_contributes_nothing():
    space = get_space("darts", C=2)
    net = space.build_supernet(num_classes=10)
    net.eval()
    x = torch.randn(2, 3, 16, 16)
    alive = space.full_alive_set().without("reduce", 7)
    net.set_alive(alive)
    out = net(x)
    with torch.no_grad():
        for p in net.cells[1].edges[7].parameters():
            p.mul_(3.0).add_(0.5)
    assert torch.equal(net(x), out)
    # a node left with no input is zero; the network still runs
    for e in NODE_EDGES[0]:
        alive = alive.without("normal", e)
    net.set_alive(alive)
    assert torch.isfinite(net(x)).all()


def test_single_path_supernet_equals_the_standalone_network_of_its_genotype():
    space = get_space("darts", C=4)
    supernet = space.build_supernet(num_classes=10)
    kaiming_init_(supernet, torch.Generator().manual_seed(1))
    supernet.set_alive(space.alive_set_for(DARTS_V2))
    standalone = DartsNetwork(4, 10, CELL_TYPES, genotype_ops(DARTS_V2), stem="cifar", stem_multiplier=1, final_bn_relu=True)
    missing, _unexpected = standalone.load_state_dict(supernet.state_dict(), strict=False)
    assert missing == []
    x = torch.randn(6, 3, 16, 16)
    for mode in (True, False):
        supernet.train(mode)
        standalone.train(mode)
        torch.testing.assert_close(supernet(x), standalone(x), rtol=1e-5, atol=1e-6)
    assert space.genotype(supernet.alive) == check_genotype(DARTS_V2)


def twin_supernets(C: int = 2, stem: bool = True):
    """The fused scoring supernet and a plain copy with the same weights and buffers."""
    space = get_space("darts", C=C)
    fused = space.build_supernet(num_classes=10, stem=stem)
    kaiming_init_(fused, torch.Generator().manual_seed(0))
    plain = DartsNetwork(C, 10, CELL_TYPES, stem="cifar" if stem else "none", stem_multiplier=1, final_bn_relu=True)
    plain.load_state_dict(fused.state_dict())
    no_none = space.full_alive_set().without_op_everywhere("none")
    sparse = no_none.without("normal", 0, "sep_conv_3x3").without("normal", 3, None).without("reduce", 1, "dil_conv_5x5")
    for e in (5, 6, 9):
        sparse = sparse.without("reduce", e, None)
    return fused, plain, [space.full_alive_set(), no_none, sparse, space.alive_set_for(DARTS_V2)]


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_fused_cells_compute_the_plain_function(train):
    fused, plain, alive_sets = twin_supernets()
    assert all(c.fused for c in fused.cells) and not any(c.fused for c in plain.cells)
    x = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    assert_same_function(fused, plain, x, alive_sets, train)


def test_fused_cells_fall_back_when_batchnorms_cannot_be_stacked():
    fused, plain, alive_sets = twin_supernets()
    for net in (fused, plain):  # a cumulative average in one op: stacking could not reproduce it
        net.cells[0].edges[0]["sep_conv_3x3"].second.bn.momentum = None
        net.set_alive(alive_sets[1])
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(fused(x), plain(x), rtol=1e-4, atol=1e-5)
    for (key, a), b in zip(fused.state_dict().items(), plain.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=key)


def test_fused_thin_supernet_has_the_plain_linear_regions():
    from tenas.proxies.linear_regions import count_linear_regions

    fused, plain, alive_sets = twin_supernets(C=1, stem=False)
    crops = torch.randn(500, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    for alive in alive_sets:
        fused.set_alive(alive)
        plain.set_alive(alive)
        assert count_linear_regions(fused, crops) == count_linear_regions(plain, crops)


def test_genotype_refuses_an_unfinished_search():
    space = get_space("darts")
    with pytest.raises(ValueError, match="not done"):
        space.genotype(space.full_alive_set())
    single_op = space.full_alive_set()
    for c in CELL_TYPES:
        single_op.masks[c][:] = False
        single_op.masks[c][:, OP_NAMES.index("sep_conv_3x3")] = True
    with pytest.raises(ValueError, match="node 3 has 3 live inputs"):
        space.genotype(single_op)  # one op per edge, but the edges are not decided yet


def test_genotypes_round_trip_through_repr_dict_and_json():
    rng = random.Random(0)
    for g in [DARTS_V2] + [random_genotype(rng) for _ in range(50)]:
        g = check_genotype(g)
        assert parse_genotype(format_genotype(g)) == g
        assert genotype_from_dict(json.loads(json.dumps(genotype_to_dict(g)))) == g
        space = get_space("darts")
        assert space.genotype(space.alive_set_for(g)) == g
    # DARTS's own genotypes.py writes concat as range(2, 6)
    darts_style = format_genotype(DARTS_V2).replace("[2, 3, 4, 5]", "range(2, 6)")
    assert parse_genotype(darts_style) == check_genotype(DARTS_V2)
    assert format_genotype(DARTS_V2).startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),")


V2 = format_genotype(DARTS_V2)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "not a Genotype"),
        ("Genotype(", "not a Genotype"),
        ("__import__('os').system('true')", "expected Genotype"),
        ("Genotype(normal=open('x'), normal_concat=[2], reduce=[], reduce_concat=[2])", "malformed genotype"),
        ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "not a Genotype"),
        (V2.replace("'sep_conv_3x3', 0", "'conv_7x7', 0", 1), "unknown op 'conv_7x7'"),
        (V2.replace("'sep_conv_3x3', 0", "'none', 0", 1), "unknown op 'none'"),
        (V2.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 2)", 1), "node 2 cannot read input 2"),
        (V2.replace("('sep_conv_3x3', 1)", "('sep_conv_3x3', 0)", 1), "reads input 0 twice"),
        (V2.replace("('sep_conv_3x3', 0), ", "", 1), "expected 8"),
        (V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[4, 5]"), "normal_concat must be"),
        (V2.replace("reduce_concat=", "reduction_concat="), "exactly the fields"),
        (V2.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[2, 3, 4, 5], normal=[]"), "repeated"),
        (V2.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', 0.0)", 1), "pair 0 must be"),
    ],
)
def test_malformed_genotypes_give_a_one_line_reason(text, reason):
    with pytest.raises(ValueError, match=reason) as err:
        parse_genotype(text)
    assert "\n" not in str(err.value)


def test_retraining_networks_match_published_sizes():
    cifar = network_for_genotype(DARTS_V2)  # 20 cells, C=36: DARTS reports 3.3M parameters
    assert count_parameters(cifar) == pytest.approx(3.35e6, rel=0.01)
    assert count_flops(cifar, (3, 32, 32)) == pytest.approx(528e6, rel=0.01)
    imagenet = network_for_genotype(DARTS_V2, C=48, layers=14, num_classes=1000, imagenet=True)  # DARTS: 4.7M
    assert count_parameters(imagenet) == pytest.approx(4.72e6, rel=0.01)
    assert sum(c.reduction for c in cifar.cells) == 2 and len(cifar.cells) == 20 and len(imagenet.cells) == 14


def test_retraining_network_has_an_auxiliary_head_in_training_only():
    net = network_for_genotype(DARTS_V2, C=8, layers=5, num_classes=10)
    net.drop_path_prob = 0.2
    x = torch.randn(3, 3, 32, 32)
    logits, aux = net.forward_with_aux(x)
    assert logits.shape == aux.shape == (3, 10)
    net.eval()
    assert net.forward_with_aux(x)[1] is None and net(x).shape == (3, 10)
    small = network_for_genotype(DARTS_V2, C=8, layers=8, num_classes=7, imagenet=True)
    assert small(torch.randn(2, 3, 64, 64)).shape == (2, 7)


def test_drop_path_zeroes_whole_samples():
    torch.manual_seed(0)
    out = drop_path(torch.ones(400, 2, 3, 3), 0.25)
    per_sample = out.flatten(1)
    assert torch.isclose(per_sample, torch.zeros(())).logical_or(torch.isclose(per_sample, torch.tensor(1 / 0.75))).all()
    assert bool((per_sample.min(1).values == per_sample.max(1).values).all())
    assert 0.15 < float((per_sample[:, 0] == 0).float().mean()) < 0.35
