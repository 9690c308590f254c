"""AZ-NAS's four proxies (az_expressivity, az_progressivity, az_trainability, az_complexity) on
hand-checkable networks; the generic registry tests are in tests/test_proxies.py."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from search_spaces.nasbench201 import NB201Network, network_for_arch, parse_arch
from tenas.init import kaiming_init_
from tenas.proxies import get_proxy, score
from tenas.proxies import _az_nas as az

NAMES = ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity")


def entropy(spectrum) -> float:
    p = np.asarray(spectrum, dtype=np.float64) / np.sum(spectrum)
    return float(-(p * np.log(p + 1e-8)).sum())


def sylvester(n: int) -> torch.Tensor:
    h = torch.ones(1, 1, dtype=torch.float64)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def features_with_spectrum(spectrum) -> torch.Tensor:
    """A [2, c, 2, 2] feature whose 8 channel vectors have covariance exactly diag(spectrum):
    zero-mean orthogonal ±1 columns of an 8x8 Hadamard matrix, scaled."""
    c = len(spectrum)
    cols = sylvester(8)[:, 1 : c + 1] * torch.tensor(spectrum, dtype=torch.float64).sqrt()
    return cols.reshape(2, 2, 2, c).permute(0, 3, 1, 2).float()


class Chain(nn.Module):
    """stem -> cells -> flatten -> linear: the shape the feature rule reads."""

    def __init__(self, stem: nn.Module, cells, channels: int, positions: int):
        super().__init__()
        self.stem = stem
        self.cells = nn.ModuleList(cells)
        self.head = nn.Linear(channels * positions, 2)

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        return self.head(x.flatten(1))


def conv1x1(weights) -> nn.Conv2d:
    w = torch.as_tensor(weights, dtype=torch.float32)
    conv = nn.Conv2d(w.shape[1], w.shape[0], 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(w[:, :, None, None])
    return conv


class PlusZero(nn.Module):
    """x + 0·x: a cell that reduces to a skip connection (a new tensor, exact identity gradient)."""

    def forward(self, x):
        return x + x.mul(0.0)


# ----------------------------------------------------------------------------- expressivity / progressivity
@pytest.mark.parametrize("spectrum", [(1.0, 1.0, 2.0), (3.0, 1.0), (1.0, 1.0, 1.0, 1.0), (5.0, 0.5, 0.25, 2.0)])
def test_pca_entropy_is_the_entropy_of_the_normalised_covariance_spectrum(spectrum):
    assert az.pca_entropy(features_with_spectrum(spectrum)) == pytest.approx(entropy(spectrum), abs=1e-6)


def test_pca_entropy_ignores_the_mean_and_the_scale():
    f = features_with_spectrum((1.0, 2.0, 4.0))
    assert az.pca_entropy(3.0 * f + 7.0) == pytest.approx(entropy((1.0, 2.0, 4.0)), abs=1e-6)


def test_expressivity_and_progressivity_on_a_chain_with_known_spectra():
    lam = (1.0, 2.0, 4.0)
    x = features_with_spectrum(lam)
    # stem: identity map (spectrum λ); cell 0 drops channel 3 (λ1, λ2, 0); cell 1 doubles (4λ1, 4λ2, 0)
    # cell 2 sends channel 1 to all three (λ1, 0, 0 up to rotation: rank one, entropy 0)
    net = Chain(conv1x1(torch.eye(3)), [conv1x1(torch.diag(torch.tensor([1.0, 1.0, 0.0]))), conv1x1(2 * torch.eye(3)),
                                        conv1x1([[1.0, 0, 0], [1.0, 0, 0], [1.0, 0, 0]])], 3, 4)
    profile = [entropy(lam), entropy((1.0, 2.0)), entropy((1.0, 2.0)), 0.0]
    assert get_proxy("az_expressivity")(net, x) == pytest.approx(sum(profile), abs=1e-5)
    # gains: -0.41, 0, -0.64: the minimum, not the first, last or largest gain
    gains = np.diff(profile)
    assert get_proxy("az_progressivity")(net, x) == pytest.approx(gains.min(), abs=1e-5)
    assert gains.min() != gains[0] and gains.min() != gains.max()


def test_a_stage_without_variance_ranks_last_instead_of_becoming_missing():
    net = network_for_arch("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", C=4, N=1)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no non-finite -> NaN warning
        assert get_proxy("az_expressivity")(net, x) == az.DEGENERATE
        assert get_proxy("az_progressivity")(net, x) == az.DEGENERATE
        t = get_proxy("az_trainability")(net, x)
    # cells that output zeros: gradient map 0 for those pairs, finite and far below a real network
    assert math.isfinite(t) and az.DEGENERATE < t < -1e4


# ----------------------------------------------------------------------------- trainability
def single_channel_chain(weights, reduce_last: bool = False):
    cells = [conv1x1([[w]]) for w in weights]
    if reduce_last:
        cells.append(nn.AvgPool2d(2))
    return Chain(conv1x1([[1.0]]), cells, 1, 4 if reduce_last else 16)


def test_trainability_of_scalar_linear_stages_is_the_mean_of_the_pair_formula():
    # one channel: g_in = w·g_out with g_out = ±1, so M = w·mean(g_out²) = w exactly, σ = |w|
    weights = [2.0, 0.5, -3.0, 1.5]  # (a weight of exactly 1 would be an identity stage: degenerate)
    x = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    expected = np.mean([-abs(w) - 1 / (abs(w) + 1e-6) + 2 for w in weights])
    assert get_proxy("az_trainability")(single_channel_chain(weights), x) == pytest.approx(expected, rel=1e-6)
    assert az.pair_score(1.0) == pytest.approx(0.0, abs=1e-5) and az.pair_score(2.0) == pytest.approx(-0.5, abs=1e-5)


def test_trainability_pixel_unshuffles_across_a_reduction():
    # 2x2 average pooling of one channel: g_in = g_out/4 on each of 4 pixels; unshuffled M = [1/4]*4, σ = 1/2
    x = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    expected = np.mean([az.pair_score(3.0), az.pair_score(0.5)])
    assert get_proxy("az_trainability")(single_channel_chain([3.0], reduce_last=True), x) == pytest.approx(expected, rel=1e-5)


def test_an_exact_identity_stage_makes_trainability_degenerate():
    net = Chain(conv1x1(torch.eye(2)), [conv1x1([[2.0, 0.0], [0.0, 1.0]]), PlusZero()], 2, 16)
    x = torch.randn(4, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    assert get_proxy("az_trainability")(net, x) == az.DEGENERATE
    # NB201: a cell whose node 3 is its input (skip 0->3, none from nodes 1 and 2)
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|"
    net = network_for_arch(arch, C=4, N=1)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    assert get_proxy("az_trainability")(net, torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))) == az.DEGENERATE


def test_trainability_uses_its_seed_and_only_its_seed():
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
    net = network_for_arch(arch, C=4, N=1)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    proxy = get_proxy("az_trainability")
    a, b = proxy(net, x, seed=0), proxy(net, x, seed=1)
    torch.manual_seed(123)
    assert proxy(net, x, seed=0) == a
    assert a != b and -2.0 < a < 0.0


# ----------------------------------------------------------------------------- complexity
def test_complexity_counts_conv_and_linear_flops_with_biases():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    x = torch.randn(5, 3, 8, 8)
    assert get_proxy("az_complexity")(net, x) == 64 * 9 * 3 * 4 + 64 * 4 + 4 * 2 + 2


@pytest.mark.parametrize("arch, mflops", [
    # FLOPs printed by the AZ-NAS notebook (NB201/tss_general.ipynb) from the NATS-Bench API, CIFAR-10
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|", 153.27),
    ("|skip_connect~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|", 121.82),
])
def test_complexity_matches_the_benchmark_flops(arch, mflops):
    net = network_for_arch(arch, C=16, N=5, num_classes=10)
    assert get_proxy("az_complexity")(net, torch.zeros(2, 3, 32, 32)) / 1e6 == pytest.approx(mflops, abs=0.006)


# ----------------------------------------------------------------------------- features and the aggregate
def test_feature_rule_reads_stem_and_every_cell_in_order():
    net = NB201Network(4, 2, 10, candidate_ops=[[op] for op in parse_arch("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|")])
    feats = az.stage_features(net, torch.randn(2, 3, 16, 16))
    assert [tuple(f.shape[1:]) for f in feats] == [(4, 16, 16)] * 3 + [(8, 8, 8)] * 3 + [(16, 4, 4)] * 3
    named = az.stage_features(net, torch.randn(2, 3, 16, 16), ["stem", "cells.2", "cells.5"])
    assert [f.shape[1] for f in named] == [4, 8, 16]
    stemless = NB201Network(3, 1, 10, candidate_ops=[["nor_conv_3x3"]] * 6, stem=False)
    assert len(az.stage_features(stemless, torch.randn(2, 3, 8, 8))) == 5  # the nn.Identity stem is no stage
    with pytest.raises(ValueError, match="no module named"):
        az.stage_features(net, torch.randn(2, 3, 16, 16), ["cells.99"])


def test_fallback_rule_takes_the_4d_outputs_of_direct_children():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2))
    assert len(az.stage_features(net, torch.randn(4, 3, 6, 6))) == 3
    assert math.isfinite(get_proxy("az_trainability")(net, torch.randn(4, 3, 6, 6)))


def test_the_four_proxies_scored_together_take_one_forward_and_equal_each_alone():
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
    net = network_for_arch(arch, C=4, N=1)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    x = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    options = {"az_trainability": {"seed": 3}}
    forwards = []
    handle = net.register_forward_hook(lambda *_: forwards.append(1))
    together = score(net, x, NAMES, options=options)
    assert len(forwards) == 1  # one forward serves expressivity, progressivity, trainability and complexity
    alone = {}
    for name in NAMES:
        assert get_proxy(name).higher_is_better
        alone[name] = get_proxy(name)(net, x, **options.get(name, {}))
    handle.remove()
    assert len(forwards) == 1 + len(NAMES)
    assert together == pytest.approx(alone, rel=1e-9, abs=1e-12)


def test_log_rank_aggregate():
    # AZ-NAS: rank each proxy ascending (N = best), sum log(rank / N)
    table = {"a": [1.0, 2.0, 3.0, 4.0], "b": [10.0, 40.0, 30.0, 20.0]}
    agg = az.log_rank_aggregate(table)
    expected = np.log(np.array([1, 2, 3, 4]) / 4) + np.log(np.array([1, 4, 3, 2]) / 4)
    assert np.allclose(agg, expected)
    assert agg.argmax() == 2 and agg[2] > agg[1]  # consistently good beats best-on-one, worst-ish on another
    # an architecture best on every proxy scores exactly 0, the maximum
    assert az.log_rank_aggregate({"a": [1.0, 5.0], "b": [0.0, 9.0]})[1] == 0.0
