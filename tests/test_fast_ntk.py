"""Speed-independent correctness of the NTK engine's fast paths: the routed CPU ops, the fused
NAS-Bench-201 cell, chunking, and the per-sample reference on a network using every routed op."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import tenas
from search_spaces import get_space
from search_spaces.nasbench201 import NB201Network
from search_spaces.nasbench201.model import CELL
from tenas.init import kaiming_init_
from tenas.ntk import jacobian
from tenas.ntk.fast_backward import fast_backward_ops
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)
from tests.twins import assert_same_function


def grads(fn, *tensors):
    out = fn(*tensors)
    cotangent = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    return (out, *torch.autograd.grad(out, tensors, cotangent, allow_unused=True))


CASES = {
    "conv3x3": lambda x, w, b: F.conv2d(x, w, None, 1, 1),
    "conv1x1": lambda x, w, b: F.conv2d(x, w[:, :, 1:2, 1:2]),
    "conv3x3-bias-pad2": lambda x, w, b: F.conv2d(x, w, b, padding=2),
    "conv-stride2 (stock)": lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
    "conv-dilated-stride2 (stock)": lambda x, w, b: F.conv2d(x, w, None, stride=2, padding=2, dilation=2),
    "conv1x1-stride2 (stock)": lambda x, w, b: F.conv2d(x, w[:, :, :1, :1], None, stride=2),
    "conv-padding-too-wide (stock)": lambda x, w, b: F.conv2d(x, w[:, :, :1, :1], None, padding=1),
    "depthwise": lambda x, w, b: F.conv2d(x, w[:4, :1], None, padding=1, groups=4),
    "depthwise-5x5-dilated-stride2": lambda x, w, b: F.conv2d(x, w[:4].reshape(4, 1, 6, 6)[..., :5, :5], None, 2, 4, 2, 4),
    "grouped": lambda x, w, b: F.conv2d(x, w[:4, :2], b[:4], padding=1, groups=2),
    "grouped1x1": lambda x, w, b: F.conv2d(x, w[:4, :2, :1, :1], None, groups=2),
    "channel-scale": lambda x, w, b: F.conv2d(x, w[:4, :1, :1, :1], None, groups=4),
    "channel-scale-stride2": lambda x, w, b: F.conv2d(x, w[:4, :1, :1, :1], None, stride=2, groups=4),
    "single-channel": lambda x, w, b: F.conv2d(x[:, :1], w[:1, :1], None, padding=1),
    "single-channel-dilated": lambda x, w, b: F.conv2d(x[:, 1:2], w[1:2, 2:3], None, padding=2, dilation=2),
    "avgpool-exclude-pad": lambda x, w, b: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False),
    "avgpool-include-pad": lambda x, w, b: F.avg_pool2d(x, 3, stride=1, padding=1),
    "avgpool5": lambda x, w, b: F.avg_pool2d(x, 5, 1, 2, count_include_pad=False),
    "avgpool-stride2 (stock)": lambda x, w, b: F.avg_pool2d(x, 2),
    "batchnorm-train": lambda x, w, b: F.batch_norm(x, None, None, b, b.flip(0), training=True),
    "batchnorm-no-affine": lambda x, w, b: F.batch_norm(x, None, None, training=True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_routed_ops_match_the_stock_ops_forward_and_backward(name):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, 7, 9, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5 if "conv" in name else 4, 4, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(w.shape[0], generator=g, dtype=torch.float64, requires_grad=True)
    stock = grads(CASES[name], x, w, b)
    with fast_backward_ops():
        fast = grads(CASES[name], x, w, b)
    for s, f in zip(stock, fast):
        assert (s is None) == (f is None)
        if s is not None:
            torch.testing.assert_close(f, s, rtol=1e-10, atol=1e-10)


class EveryRoutedOp(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 4, 1)
        self.bn2 = nn.BatchNorm2d(4, affine=False)
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.depthwise = nn.Conv2d(4, 4, 5, stride=2, padding=4, dilation=2, groups=4, bias=False)
        self.pointwise = nn.Conv2d(4, 4, 1, groups=2, bias=False)
        self.scale = nn.Conv2d(4, 4, 1, groups=4, bias=False)
        self.single = nn.Conv2d(1, 1, 3, padding=2, dilation=2, bias=False)
        self.down = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.head = nn.Linear(6, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.c1(x)))
        x = self.pool(torch.relu(self.bn2(self.c2(x)))) + x
        x = self.scale(self.pointwise(self.depthwise(x)))
        x = torch.cat([self.single(x[:, :1]), x[:, 1:]], 1)
        return self.head(self.down(x).mean((2, 3)))


def test_engine_equals_a_per_sample_loop_on_every_routed_op():
    net = EveryRoutedOp().double().train()
    x = torch.randn(10, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = net(x).sum(1)
    params = [p for n, p in net.named_parameters() if "weight" in n]
    loop = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(out[i], params, retain_graph=True)]) for i in range(10)])
    for chunk in (None, 3):
        torch.testing.assert_close(jacobian(net, x, chunk_size=chunk), loop, rtol=1e-9, atol=1e-12)


def twin_networks(**options):
    """The fused scoring supernet and an unfused copy with the same weights and buffers."""
    fused = NB201Network(fused=True, **options)
    kaiming_init_(fused, torch.Generator().manual_seed(0))
    plain = NB201Network(fused=False, **options)
    plain.load_state_dict(fused.state_dict())
    return fused, plain


def alive_sets():
    space = get_space("nasbench201")
    full = space.full_alive_set()
    no_none = full.without_op_everywhere("none")
    sparse = no_none.without(CELL, 0, "nor_conv_3x3").without(CELL, 2, "nor_conv_1x1").without(CELL, 3, None)
    return [full, no_none, sparse, space.alive_set_for("|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|none~0|skip_connect~1|nor_conv_3x3~2|")]


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_fused_cells_compute_the_unfused_function(train):
    fused, plain = twin_networks(C=4, N=2)
    x = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    assert_same_function(fused, plain, x, alive_sets(), train)


def test_fused_thin_network_has_the_unfused_linear_regions():
    fused, plain = twin_networks(C=1, N=1, stem=False)
    crops = torch.randn(1000, 1, 3, 3, generator=torch.Generator().manual_seed(3))
    for alive in alive_sets():
        fused.set_alive(alive)
        plain.set_alive(alive)
        assert tenas.count_linear_regions(fused, crops) == tenas.count_linear_regions(plain, crops)


def test_chunk_size_bounds_memory_not_the_kernel():
    space = get_space("nasbench201")
    net = space.build_supernet(num_classes=10, C=8, N=2)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    net.set_alive(space.full_alive_set().without_op_everywhere("none"))
    x = torch.randn(24, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    whole = tenas.ntk_condition_number(net, x, chunk_size=None)
    assert tenas.ntk_condition_number(net, x, chunk_size=5) == pytest.approx(whole, rel=1e-5)
    with pytest.raises(ValueError, match="chunk_size"):
        tenas.ntk_condition_number(net, x, chunk_size=0)


def test_switched_off_ops_have_zero_columns():
    space = get_space("nasbench201")
    net = space.build_supernet(num_classes=10)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    net.set_alive(space.full_alive_set().without_op_everywhere("none").without(CELL, 1, "nor_conv_3x3"))
    J = jacobian(net, torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1)))
    blocks = dict(zip([n for n, _ in net.named_parameters() if "weight" in n], J.split([p.numel() for n, p in net.named_parameters() if "weight" in n], 1)))
    for name, block in blocks.items():
        assert bool((block == 0).all()) == (".edges.1.nor_conv_3x3." in name), name
