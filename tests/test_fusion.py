"""The stacked-op helpers of search_spaces.fusion on both spaces' blocks: the same outputs, gradients
and BatchNorm buffers (running statistics, ``num_batches_tracked``) as one call per block."""
import copy

import pytest
import torch
from torch import nn

from search_spaces.darts.fused import stacked_dil_conv
from search_spaces.darts.ops import OPS as DARTS_OPS
from search_spaces.fusion import stackable, stacked_batch_norm, stacked_relu_conv_bn
from search_spaces.nasbench201.ops import OPS as NB201_OPS
from search_spaces.ops import FactorizedReduce, ReLUConvBN, Zero
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)


def scrambled(blocks, seed=0):
    """``blocks`` in float64 with random weights, BN parameters, running statistics and batch counts."""
    g = torch.Generator().manual_seed(seed)
    blocks = [b.double() for b in blocks]
    with torch.no_grad():
        for i, b in enumerate(blocks):
            for m in b.modules():
                if isinstance(m, nn.Conv2d):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g, dtype=torch.float64))
                elif isinstance(m, nn.BatchNorm2d):
                    if m.affine:
                        m.weight.copy_(torch.rand(m.num_features, generator=g, dtype=torch.float64) + 0.5)
                        m.bias.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))
                    if m.track_running_stats:
                        m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=torch.float64))
                        m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=torch.float64) + 0.5)
                        m.num_batches_tracked.fill_(3 + i)
    return blocks


def assert_same_as_per_block(stacked_fn, blocks, x, train):
    """``stacked_fn(blocks, x)`` (a list, one output per block) against ``[b(x) for b in twins]``
    (deep copies): outputs, gradients of the parameters and the input, and every buffer afterwards.
    Returns ``blocks``."""
    for b in blocks:
        b.zero_grad()
    twins = copy.deepcopy(blocks)
    for b in blocks + twins:
        b.train(train)
    runs = []
    for fn, mods in ((stacked_fn, blocks), (lambda ms, inp: [m(inp) for m in ms], twins)):
        inp = x.clone().requires_grad_(True)
        outs = fn(mods, inp)
        torch.cat(outs, 1).square().sum().backward()
        runs.append((outs, inp.grad))
    (outs_s, grad_s), (outs_p, grad_p) = runs
    assert len(outs_s) == len(outs_p) == len(blocks)
    for a, b in zip(outs_s, outs_p):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad_s, grad_p, rtol=1e-10, atol=1e-10)
    for m_s, m_p in zip(blocks, twins):
        for (name, p_s), p_p in zip(m_s.named_parameters(), m_p.parameters()):
            torch.testing.assert_close(p_s.grad, p_p.grad, rtol=1e-10, atol=1e-10, msg=name)
        for (name, b_s), b_p in zip(m_s.named_buffers(), m_p.buffers()):
            torch.testing.assert_close(b_s, b_p, rtol=1e-12, atol=1e-12, msg=name)
    return blocks


def relu_conv_bn_stacked(blocks, x):
    return stacked_relu_conv_bn(blocks, x, blocks[0].relu(x))


MODES = pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])


@MODES
@pytest.mark.parametrize("kind", ["nor_conv_1x1", "nor_conv_3x3"])
def test_nb201_conv_ops_stack(kind, train):
    blocks = scrambled([NB201_OPS[kind](4, 4, 1) for _ in range(3)])
    x = torch.randn(5, 4, 7, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    stacked = assert_same_as_per_block(relu_conv_bn_stacked, blocks, x, train)
    counts = [int(b.bn.num_batches_tracked) for b in stacked]
    assert counts == ([4, 5, 6] if train else [3, 4, 5])  # each BN counts the batch as its own call would


@MODES
@pytest.mark.parametrize("affine", [True, False])
def test_darts_preprocessing_stacks_or_falls_back(affine, train):
    """DARTS's ReLU-conv-BN (affine or not: a non-affine BN is computed per block), a stride-2 conv too."""
    blocks = scrambled([ReLUConvBN(6, 4, 1, 1, 0, affine) for _ in range(2)])
    x = torch.randn(4, 6, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert_same_as_per_block(relu_conv_bn_stacked, blocks, x, train)
    strided = scrambled([ReLUConvBN(6, 4, 3, 2, 1) for _ in range(2)])
    assert_same_as_per_block(relu_conv_bn_stacked, strided, x, train)


def test_batchnorms_without_running_statistics_stack():
    blocks = scrambled([ReLUConvBN(4, 3, 3, 1, 1, track_running_stats=False) for _ in range(3)])
    for b in blocks:
        b.bn.eps = 0.5  # the BNs' own eps, not the default
    x = torch.randn(4, 4, 6, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    for train in (True, False):
        assert_same_as_per_block(relu_conv_bn_stacked, blocks, x, train)


def test_blocks_that_cannot_be_stacked_are_called_one_by_one():
    x = torch.randn(4, 4, 6, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    blocks = scrambled([NB201_OPS["nor_conv_3x3"](4, 4, 1) for _ in range(3)])
    for b in blocks:
        b.bn.momentum = None  # a cumulative average: its factor is each BN's own count (3, 4, 5)
    assert not stackable([b.bn for b in blocks])
    stacked = assert_same_as_per_block(relu_conv_bn_stacked, blocks, x, True)
    assert [int(b.bn.num_batches_tracked) for b in stacked] == [4, 5, 6]
    blocks = scrambled([NB201_OPS["nor_conv_3x3"](4, 4, 1) for _ in range(3)])
    blocks[1].bn.momentum = 0.3
    assert not stackable([b.bn for b in blocks])
    assert_same_as_per_block(relu_conv_bn_stacked, blocks, x, True)
    blocks = scrambled([NB201_OPS["nor_conv_3x3"](4, 4, 1) for _ in range(2)])
    blocks[0].bn.eval()
    assert not stackable([b.bn for b in blocks])
    blocks[0].bn.train()
    blocks[1].bn.eps = 1e-3
    assert not stackable([b.bn for b in blocks])
    assert stackable([blocks[0].bn])


def test_convs_of_different_shapes_are_refused():
    blocks = [ReLUConvBN(4, 4, 3, 1, 1), ReLUConvBN(4, 4, 1, 1, 0)]
    x = torch.randn(2, 4, 5, 5)
    with pytest.raises(ValueError, match="differ"):
        stacked_relu_conv_bn(blocks, x, blocks[0].relu(x))


def dil_conv_stacked(blocks, x):
    """What the fused DARTS cell does for one conv kind: the state repeated once per op, ReLU'd through the first op."""
    relu_x = blocks[0].relu(x).repeat(1, len(blocks), 1, 1)
    return list(stacked_dil_conv(blocks, relu_x, None).chunk(len(blocks), dim=1))


def sep_conv_stacked(blocks, x):
    relu_x = blocks[0].first.relu(x).repeat(1, len(blocks), 1, 1)
    y = stacked_dil_conv([b.first for b in blocks], relu_x, None)
    return list(stacked_dil_conv([b.second for b in blocks], y, blocks[0].second.relu).chunk(len(blocks), dim=1))


@MODES
@pytest.mark.parametrize("kind", ["dil_conv_3x3", "dil_conv_5x5", "sep_conv_3x3", "sep_conv_5x5"])
@pytest.mark.parametrize("stride", [1, 2])
def test_darts_conv_ops_stack(kind, stride, train):
    blocks = scrambled([DARTS_OPS[kind](3, stride, True) for _ in range(3)])
    x = torch.randn(4, 3, 9, 9, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    stacked_fn = sep_conv_stacked if kind.startswith("sep") else dil_conv_stacked
    stacked = assert_same_as_per_block(stacked_fn, blocks, x, train)
    counts = [[int(m.num_batches_tracked) for m in b.modules() if isinstance(m, nn.BatchNorm2d)] for b in stacked]
    halves = 2 if kind.startswith("sep") else 1
    assert counts == [[3 + i + train] * halves for i in range(3)]


def test_stacked_batch_norm_writes_each_slice_back():
    bns = [nn.BatchNorm2d(w).double().train() for w in (2, 3)]
    twins = copy.deepcopy(bns)
    y = torch.randn(6, 5, 4, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    out = stacked_batch_norm(bns, y)
    expected = torch.cat([twins[0](y[:, :2]), twins[1](y[:, 2:])], 1)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    for bn, twin in zip(bns, twins):
        torch.testing.assert_close(bn.running_mean, twin.running_mean, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(bn.running_var, twin.running_var, rtol=1e-12, atol=1e-12)
        assert int(bn.num_batches_tracked) == int(twin.num_batches_tracked) == 1


def test_named_views_are_the_sequential_positions():
    """The names the fused code uses are views of the Sequentials' positions (keys stay ``0``, ``1`` ...)."""
    block = ReLUConvBN(2, 3, 3, 1, 1)
    assert (block.relu, block.conv, block.bn) == (block[0], block[1], block[2])
    assert [n for n, _ in block.named_parameters()] == ["1.weight", "2.weight", "2.bias"]
    dil = DARTS_OPS["dil_conv_3x3"](2, 1, True)
    assert (dil.relu, dil.depthwise, dil.pointwise, dil.bn) == tuple(dil)
    sep = DARTS_OPS["sep_conv_3x3"](2, 1, True)
    assert (sep.first, sep.second) == tuple(sep)
    assert [n for n, _ in sep.named_parameters()][:3] == ["0.1.weight", "0.2.weight", "0.3.weight"]


def test_shared_ops_keep_each_spaces_names_and_checks():
    nb = NB201_OPS["skip_connect"](4, 6, 2)
    assert [n for n, _ in nb.named_parameters()] == ["convs.0.weight", "convs.1.weight", "bn.weight", "bn.bias"]
    darts = DARTS_OPS["skip_connect"](4, 2, False)
    assert [n for n, _ in darts.named_parameters()] == ["conv_1.weight", "conv_2.weight"]
    assert not darts.bn.affine
    assert [n for n, _ in NB201_OPS["skip_connect"](4, 6, 1).named_parameters()] == ["convs.0.weight", "bn.weight", "bn.bias"]
    with pytest.raises(ValueError, match="at least 2 output channels"):
        FactorizedReduce(4, 1, 2)
    with pytest.raises(ValueError, match="stride 1 or 2"):
        FactorizedReduce(4, 4, 3)
    x = torch.randn(2, 4, 5, 5, requires_grad=True)
    assert Zero(2)(x).shape == (2, 4, 3, 3) and Zero(2)(x).requires_grad  # kept in the graph
    assert Zero(1, 6)(x).shape == (2, 6, 5, 5) and not Zero(1, 6)(x).any()
