"""Hand-checkable values of the activation-based proxies: nwot, epe_nas, zen, zico, meco, swap."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from tenas.proxies import get_proxy
from tenas.proxies.zen import log_bn_scaling, pre_gap_features


class TwoReLUs(nn.Module):
    """ReLU codes set by hand: (x > 0) at the first ReLU and (x > 0.5) at the second."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.ReLU(), nn.ReLU()

    def forward(self, x):
        return torch.cat([self.a(x).flatten(1), self.b(x - 0.5).flatten(1)], 1)


def test_nwot_is_slogdet_of_summed_code_kernel():
    x = torch.tensor([[0.9, -1.0, 0.2, 0.7], [0.1, 0.6, -0.3, 0.8], [-0.4, 0.3, 0.6, -0.2], [0.7, 0.2, 0.9, 0.1]])
    kernel = np.zeros((4, 4))
    for code in ((x > 0).double().numpy(), (x > 0.5).double().numpy()):
        kernel += code @ code.T + (1 - code) @ (1 - code).T
    sign, expected = np.linalg.slogdet(kernel)
    assert sign > 0
    assert get_proxy("nwot")(TwoReLUs(), x) == pytest.approx(expected, rel=1e-12)


def test_nwot_singular_kernel_is_nan():
    x = torch.tensor([[1.0, -1.0], [1.0, -1.0]])  # two samples, same codes everywhere
    with pytest.warns(RuntimeWarning, match="non-finite"):
        assert math.isnan(get_proxy("nwot")(TwoReLUs(), x))


class HalfSquare(nn.Module):
    """Output column 0 is Σ x²/2 (so d Σ out / dx = x); ``extra`` constant columns widen the logits."""

    def __init__(self, extra: int = 0):
        super().__init__()
        self.extra = extra
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x):
        s = (0.5 * self.w * x.pow(2)).flatten(1).sum(1, keepdim=True)
        return torch.cat([s, torch.zeros(x.shape[0], self.extra)], 1)


def _epe_by_hand(rows, labels, many_classes):
    per = {}
    for c in np.unique(labels):
        r = rows[labels == c]
        corr = np.corrcoef(r) if len(r) > 1 else np.ones((1, 1))
        s = np.sum(np.log(np.abs(corr) + 1e-5))
        per[c] = s / len(corr) if many_classes else s
    v = np.array(list(per.values()))
    return np.abs(v).sum() if not many_classes else np.abs(v[:, None] - v[None]).sum() / len(v)


@pytest.mark.parametrize("extra", [0, 120])
def test_epe_nas_on_known_jacobian(extra):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 2, 3, 3, generator=g, dtype=torch.float64).float()
    y = torch.tensor([0, 1, 0, 2, 1, 0, 3])
    expected = _epe_by_hand(x.reshape(7, -1).double().numpy(), y.numpy(), extra + 1 > 100)
    assert get_proxy("epe_nas")(HalfSquare(extra), x, targets=y) == pytest.approx(expected, rel=1e-6)


class LinearFeatures(nn.Module):
    """A 1x1 conv (no BN) as the pre-GAP map: Δ is linear in the perturbation's size."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


def test_zen_scales_with_log_mixup_gamma_and_reads_the_pool_input():
    net = LinearFeatures()
    x = torch.randn(5, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    zen = get_proxy("zen")
    a = zen(net, x, mixup_gamma=1e-2, seed=3, gaussian_init=False)
    b = zen(net, x, mixup_gamma=1e-3, seed=3, gaussian_init=False)
    assert a - b == pytest.approx(math.log(10.0), abs=1e-4)
    # by hand: Δ = mean_i Σ |W γ ε_i| with ε the generator's first draw of x's shape
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        delta = (net.conv(1e-2 * eps)).abs().flatten(1).sum(1).mean()
    assert a == pytest.approx(math.log(float(delta)), abs=1e-4)


def test_zen_bn_term_and_nb201_pre_gap_map():
    bn = nn.Sequential(nn.BatchNorm2d(3), nn.BatchNorm2d(2))
    bn[0].running_var.copy_(torch.tensor([2.0, 4.0, 6.0]))  # mean 4 -> log 2
    bn[1].running_var.copy_(torch.tensor([9.0, 9.0]))  # -> log 3
    assert log_bn_scaling(bn) == pytest.approx(math.log(6.0))
    from search_spaces.nasbench201 import network_for_arch

    net = network_for_arch("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|", C=4, N=1)
    seen = []
    handle = net.lastact.register_forward_hook(lambda m, a, out: seen.append(out))
    x = torch.randn(2, 3, 8, 8)
    feats = pre_gap_features(net, x)
    handle.remove()
    assert torch.equal(feats, seen[0])


def test_zico_matches_hand_computed_gradients():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2, bias=False))
    w = net[0].weight.detach().double().numpy().copy()
    xs = [torch.randn(1, 3), torch.randn(1, 3)]
    ys = [torch.tensor([1]), torch.tensor([0])]

    def grad(x, y):  # d CE / dW = (softmax(Wx) - onehot(y)) xᵀ
        z = w @ x[0].double().numpy()
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        p[int(y)] -= 1.0
        return np.outer(p, x[0].double().numpy()).ravel()

    g1, g2 = grad(xs[0], ys[0]), grad(xs[1], ys[1])
    for accumulate, second in ((True, g1 + g2), (False, g2)):
        stack = np.stack([g1, second])
        std = stack.std(0)
        expected = math.log(np.sum(np.abs(stack).mean(0)[std != 0] / std[std != 0]))
        assert get_proxy("zico")(net, xs, targets=ys, accumulate=accumulate) == pytest.approx(expected, rel=1e-5)


def test_meco_is_min_eigenvalue_of_channel_correlation_per_module():
    x = torch.tensor([[[1.0, 2.0, 3.0, 5.0], [2.0, 1.0, 4.0, 3.0], [0.0, 1.0, 0.0, 2.0]]])[:, :, None, :]  # [1, 3, 1, 4]
    x = torch.cat([x, torch.randn(1, 3, 1, 4)])  # only the first sample is read
    expected = np.linalg.eigvalsh(np.corrcoef(x[0].reshape(3, -1).numpy()))[0]
    net = nn.Sequential(nn.Identity())  # two hooked modules (container and child) see the same map
    assert get_proxy("meco")(net, x) == pytest.approx(2 * expected, rel=1e-6)
    constant = torch.ones(1, 3, 2, 2)  # all channels constant: correlations set to 0, eigenvalue 0
    assert get_proxy("meco")(net, constant) == 0.0


def test_swap_counts_distinct_neuron_patterns():
    # 3 samples, 4 neurons; neuron patterns over samples: (1,0,1), (1,0,1), (0,0,0), (1,1,1) -> 3 distinct
    x = torch.tensor([[1.0, 2.0, -1.0, 3.0], [-1.0, -2.0, -1.0, 1.0], [2.0, 1.0, -3.0, 0.5]]).reshape(3, 1, 2, 2)
    net = nn.Sequential(nn.ReLU())
    assert get_proxy("swap")(net, x, gaussian_init=False) == 3
    big = torch.randn(11, 2, 3, 3, generator=torch.Generator().manual_seed(0)).sign() * (torch.rand(11, 2, 3, 3) + 0.1)
    cols = {tuple((big.reshape(11, -1)[:, j] > 0).tolist()) for j in range(18)}
    assert get_proxy("swap")(net, big, gaussian_init=False) == len(cols)
