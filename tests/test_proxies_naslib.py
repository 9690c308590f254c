"""Hand-checkable values of the NAS-Bench-Suite-Zero proxies (params, flops, synflow, snip, grasp,
fisher, grad_norm, plain, l2_norm, jacov) and NASLib's published numbers where they are exact."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from search_spaces.nasbench201 import NASBench201Space, NB201Network, parse_arch
from tenas.init import initialise
from tenas.proxies import get_proxy


def score(name, model, inputs, **kw):
    return get_proxy(name)(model, inputs, **kw)


# --- a two-layer net computed by hand --------------------------------------------------------------
# x = [1, 2]; W1 = [[1, 0], [0, -1]] -> pre = [1, -2], h = ReLU(pre) = [1, 0];
# W2 = [[2, 0], [0, 1]] -> z = [2, 0]; target 0: dL/dz = softmax(z) - e0 = [-s, s], s = 1 / (1 + e^2).
# dL/dW2 = dz h^T = [[-s, 0], [s, 0]];  dL/dh = W2^T dz = [-2s, s];  dpre = [-2s, 0];
# dL/dW1 = dpre x^T = [[-2s, -4s], [0, 0]].
S = 1.0 / (1.0 + math.e**2)


def two_layer(bn: bool = False) -> nn.Module:
    first = nn.Linear(2, 2, bias=False)
    second = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        second.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 1.0]]))
    layers = [first, nn.ReLU()] + ([nn.BatchNorm1d(2)] if bn else []) + [second]
    return nn.Sequential(*layers)


X = torch.tensor([[1.0, 2.0]])
Y = torch.tensor([0])


def test_grad_norm_by_hand():
    # ||dL/dW1|| = s * sqrt(4 + 16), ||dL/dW2|| = s * sqrt(2)
    assert score("grad_norm", two_layer(), X, targets=Y) == pytest.approx(S * (math.sqrt(20) + math.sqrt(2)), rel=1e-6)


def test_grad_norm_averages_the_loss_over_the_batch():
    # a batch of the same sample twice: mean cross-entropy, same gradient
    assert score("grad_norm", two_layer(), torch.cat([X, X]), targets=torch.cat([Y, Y])) == pytest.approx(
        S * (math.sqrt(20) + math.sqrt(2)), rel=1e-6
    )


def test_snip_and_plain_by_hand():
    # W ⊙ dL/dW: W1 -> [[-2s, 0], [0, 0]], W2 -> [[-2s, 0], [0, 0]]
    assert score("snip", two_layer(), X, targets=Y) == pytest.approx(4 * S, rel=1e-6)
    assert score("plain", two_layer(), X, targets=Y) == pytest.approx(-4 * S, rel=1e-6)


def test_fisher_by_hand():
    # layer 1: a = pre = [1, -2], dL/da = [-2s, 0] -> g = [-2s, 0]; layer 2: a = z = [2, 0], dL/da = [-s, s] -> g = [-2s, 0]
    # each: ½ g² summed over channels = 2 s², times the fan-in 2 -> 4 s²; total 8 s²
    assert score("fisher", two_layer(), X, targets=Y) == pytest.approx(8 * S**2, rel=1e-6)
    # the sample twice: mean loss halves each sample's gradient, the mean over samples keeps 1/4
    assert score("fisher", two_layer(), torch.cat([X, X]), targets=torch.cat([Y, Y])) == pytest.approx(2 * S**2, rel=1e-6)


def test_synflow_by_hand_is_the_log_and_ignores_batchnorm_and_input_values():
    # |W1| = I, |W2| = diag(2, 1), input ones: h = [1, 1], z = [2, 1], R = 3.
    # dR/dW2 = [[1, 1], [1, 1]] -> Σ|W2 ⊙ .| = 3; dR/dh = [2, 1] -> dR/dW1 = [[2, 2], [1, 1]] -> Σ|W1 ⊙ .| = 3.
    assert score("synflow", two_layer(), X) == pytest.approx(math.log(6.0), rel=1e-9)
    net = two_layer(bn=True)
    with torch.no_grad():
        net[2].weight.fill_(5.0)
        net[2].bias.fill_(3.0)
    assert score("synflow", net, -7 * X) == pytest.approx(math.log(6.0), rel=1e-9)


def test_synflow_does_not_overflow_where_float32_would():
    # 10 scalar layers of weight 1e5: R = 1e50 (float32 overflows at 3.4e38); each layer's term is R.
    net = nn.Sequential(*[nn.Linear(1, 1, bias=False) for _ in range(10)])
    for layer in net:
        nn.init.constant_(layer.weight, -1e5)
    assert score("synflow", net, torch.zeros(1, 1)) == pytest.approx(math.log(10) + 50 * math.log(10), rel=1e-9)


def test_synflow_on_a_network_whose_output_ignores_its_weights_is_nan():
    net = NB201Network(4, 1, 10, candidate_ops=[[op] for op in parse_arch("|none~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|skip_connect~1|none~2|")])
    with pytest.warns(RuntimeWarning, match="non-finite"):
        assert math.isnan(score("synflow", net, torch.ones(1, 3, 8, 8)))


def test_grasp_is_minus_w_hessian_gradient():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    names = ["0.weight", "2.weight"]
    params = dict(net.named_parameters())

    def loss_of(w0, w2):
        out = torch.func.functional_call(net, {**params, "0.weight": w0, "2.weight": w2}, (x,))
        return nn.functional.cross_entropy(out, y)

    w = tuple(params[n].detach() for n in names)
    ws = [t.clone().requires_grad_(True) for t in w]
    g = torch.autograd.grad(loss_of(*ws), ws)
    hessian = torch.autograd.functional.hessian(loss_of, w)  # H[i][j]: d²L / dw_i dw_j
    expected = 0.0
    for i in range(2):
        hg = sum((hessian[i][j].reshape(w[i].numel(), w[j].numel()) @ g[j].reshape(-1)) for j in range(2))
        expected += float(-(w[i].reshape(-1) * hg).sum())
    assert abs(expected) > 1e-4
    assert score("grasp", net, x, targets=y) == pytest.approx(expected, rel=1e-4)


def small_nb201(arch="|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|", seed=0):
    net = NB201Network(4, 1, 10, candidate_ops=[[op] for op in parse_arch(arch)])
    initialise(net, "default", torch.Generator().manual_seed(seed))
    return net


def test_snip_equals_the_mask_gradient_of_naslib():
    """NASLib's SNIP: |∂L/∂m| for weights W ⊙ m at m = 1, computed here with explicit masks."""
    net = small_nb201()
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, 16, 16, generator=gen), torch.randint(10, (8,), generator=gen)
    layers = {n: p for n, p in net.named_parameters() if n.endswith("weight") and p.dim() in (2, 4)}
    masks = {n: torch.ones_like(p, requires_grad=True) for n, p in layers.items()}
    net.train()
    out = torch.func.functional_call(net, {**dict(net.named_parameters()), **{n: layers[n].detach() * masks[n] for n in layers}}, (x,))
    grads = torch.autograd.grad(nn.functional.cross_entropy(out, y), list(masks.values()))
    expected = float(sum(g.abs().sum() for g in grads))
    assert expected > 0
    assert score("snip", net, x, targets=y) == pytest.approx(expected, rel=1e-5)


def test_jacov_of_identical_jacobian_rows_by_hand():
    # a linear map: every sample's Jacobian row is 1ᵀW, the correlation matrix is all ones: eigenvalues n, 0, ..., 0
    torch.manual_seed(0)
    net = nn.Linear(6, 3, bias=False)
    n, k = 4, 1e-5
    expected = -((math.log(n + k) + 1 / (n + k)) + (n - 1) * (math.log(k) + 1 / k))
    assert score("jacov", net, torch.randn(n, 6)) == pytest.approx(expected, rel=1e-6)


def test_jacov_matches_an_independent_computation():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    x = torch.randn(6, 5)
    rows = [torch.autograd.functional.jacobian(lambda v: net(v[None]).sum(), x[i]).numpy() for i in range(6)]
    eig = np.linalg.eig(np.corrcoef(np.stack(rows)))[0].real
    expected = -np.sum(np.log(eig + 1e-5) + 1 / (eig + 1e-5))
    assert score("jacov", net, x) == pytest.approx(float(expected), rel=1e-6)


def test_l2_norm_by_hand_counts_only_layers_that_run():
    class WithSpare(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.unused = two_layer(), nn.Linear(5, 5)  # unused: not called in forward, not counted

        def forward(self, x):
            return self.body(x)

    net = WithSpare()
    # ||W1|| = sqrt(2), ||W2|| = sqrt(5)
    assert score("l2_norm", net, X) == pytest.approx(math.sqrt(2) + math.sqrt(5), rel=1e-6)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(2)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 3)
        self.unused = nn.Linear(100, 100)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.bn(self.conv(x)))).flatten(1))


def test_params_and_flops_of_a_tiny_net_by_hand():
    # params: conv 2*1*3*3 = 18, BN 2+2 = 4, fc 2*3+3 = 9 -> 31 (the unused layer is not called, not counted)
    # flops (torchstat, one 1x4x4 sample): conv 16 positions * 2 out * 9 = 288; BN 2*16 elements * 2 (affine) = 64;
    # ReLU 32; adaptive pool 4x4 -> 1x1: (4+1)*(4+1) per channel * 2 = 50; fc 2*3 = 6 -> 440
    net = Tiny()
    x = torch.randn(7, 1, 4, 4)
    assert score("params", net, x) == pytest.approx(31e-6, rel=1e-12)
    assert score("flops", net, x) == pytest.approx(440e-6, rel=1e-12)


def test_params_and_flops_equal_naslibs_published_numbers():
    # zc_nasbench201.json, cifar10, arch (0, 2, 3, 2, 3, 1): params 0.615386, flops 88.307392
    net = NB201Network(16, 5, 10, candidate_ops=[[op] for op in parse_arch(
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|")])
    x = torch.zeros(1, 3, 32, 32)
    assert score("params", net, x) == pytest.approx(0.615386, abs=1e-9)
    assert score("flops", net, x) == pytest.approx(88.307392, abs=1e-9)


def test_supernet_counts_only_its_alive_ops_through_its_fused_cells():
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
    space = NASBench201Space(C=4, N=1)
    supernet = space.build_supernet(num_classes=10)
    standalone = small_nb201(arch)
    x = torch.zeros(1, 3, 16, 16)
    with supernet.trying(space.alive_set_for(arch)):
        for name in ("params", "flops"):
            assert score(name, supernet, x) == pytest.approx(score(name, standalone, x), rel=1e-12), name
    assert all(m.fused for m in supernet.modules() if hasattr(m, "fused"))
    full = score("params", supernet, x)
    assert full > score("params", standalone, x)


def agreement_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "naslib_agreement.py"
    spec = importlib.util.spec_from_file_location("naslib_agreement", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_agreement_script_reads_naslib_op_tuples():
    # edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4); ops skip=0, none=1, conv3=2, conv1=3, pool=4
    arch_of = agreement_script().arch_of
    assert arch_of("(0, 2, 3, 2, 3, 1)") == "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    assert arch_of((4, 1, 0, 3, 2, 1)) == "|avg_pool_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"


def test_agreement_script_conversion_matches_the_benchmark():
    """The file's val_accuracy must rank like NAS-Bench-201's test accuracy of the converted strings."""
    import json

    import pandas as pd
    from scipy.stats import spearmanr

    from tests.conftest import shared_file

    table = json.loads(shared_file("naslib/zc_nasbench201.json").read_text())["cifar10"]
    truth = pd.read_csv(shared_file("nb201/nb201_hp200_test_acc.csv")).set_index("arch_str")["cifar10_test"]
    arch_of = agreement_script().arch_of
    keys = list(table)[:200]
    rho = spearmanr([table[k]["val_accuracy"] for k in keys], [truth[arch_of(k)] for k in keys])[0]
    assert rho > 0.95


@pytest.mark.parametrize("name", ["grad_norm", "snip", "plain", "grasp", "fisher"])
def test_gradient_proxies_on_a_network_without_weights_score_zero(name):
    net = nn.Sequential(nn.Flatten(), nn.Identity())
    assert score(name, net, torch.randn(4, 3), targets=torch.tensor([0, 1, 2, 0])) == 0.0
