"""Linear-region count: exact on known cases and against an independent count; leaves the model as found."""
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import tenas
from search_spaces import get_space
from tenas.scoring import ProxyIndicator, ScoringRecipe, random_crops
from tenas.proxies.linear_regions import pack_signs
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)


def independent_count(layers, x):
    """Distinct ReLU patterns of an MLP given as [(weight, bias), ...], computed by hand (no hooks)."""
    patterns = set()
    for sample in x:
        h, bits = sample, []
        for w, b in layers[:-1]:
            pre = w @ h + b
            bits.extend((pre > 0).tolist())
            h = torch.relu(pre)
        patterns.add(tuple(bits))
    return len(patterns)


def mlp(widths, seed=0):
    torch.manual_seed(seed)
    mods = []
    for a, b in zip(widths[:-1], widths[1:]):
        mods += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*mods[:-1]).double()


def test_matches_an_independent_count_on_a_small_relu_net():
    net = mlp([2, 6, 5, 1])
    x = torch.randn(3000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 3
    layers = [(m.weight.detach(), m.bias.detach()) for m in net if isinstance(m, nn.Linear)]
    expected = independent_count(layers, x)
    assert 10 < expected < 3000
    assert tenas.count_linear_regions(net, x) == expected
    # batching does not matter without BatchNorm; an iterable of batches is one sample set
    assert tenas.count_linear_regions(net, x, batch_size=7) == expected
    assert tenas.count_linear_regions(net, list(x.split(1000))) == expected


def test_known_counts():
    # 1-D: units relu(x - t) with 4 distinct thresholds cut the line into 5 intervals
    line = nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 1)).double()
    with torch.no_grad():
        line[0].weight.fill_(1.0)
        line[0].bias.copy_(torch.tensor([1.0, 0.0, -1.0, -2.0]))
    xs = torch.linspace(-3, 3, 601, dtype=torch.float64)[:, None]
    assert tenas.count_linear_regions(line, xs) == 5
    assert tenas.count_linear_regions(line, xs[(xs[:, 0] > -0.9) & (xs[:, 0] < -0.1)]) == 1
    # 2-D: three lines in general position (x=0, y=0, x+y=1) make 1 + 3 + 3 = 7 regions
    plane = nn.Sequential(nn.Linear(2, 3), nn.ReLU()).double()
    with torch.no_grad():
        plane[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        plane[0].bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
    grid = torch.tensor(list(itertools.product(np.linspace(-3, 3, 61), repeat=2)), dtype=torch.float64)
    assert tenas.count_linear_regions(plane, grid) == 7
    # identical samples share one region; no samples, no regions
    assert tenas.count_linear_regions(plane, grid[:1].repeat(50, 1)) == 1
    assert tenas.count_linear_regions(plane, []) == 0


def test_a_network_without_relu_modules_is_one_region_with_a_warning():
    with pytest.warns(RuntimeWarning, match="no nn.ReLU"):
        assert tenas.count_linear_regions(nn.Linear(3, 2), torch.randn(20, 3)) == 1


def test_large_inputs_saturate_at_the_sample_count():
    net = mlp([32, 256, 256, 1]).float()
    x = torch.randn(4000, 32, generator=torch.Generator().manual_seed(0))
    assert tenas.count_linear_regions(net, x, batch_size=1000) == 4000


def test_bits_are_packed_exactly():
    a = torch.randn(5, 3, 7, generator=torch.Generator().manual_seed(0))
    packed = pack_signs(a).numpy()
    assert packed.dtype == np.uint8 and packed.shape == (5, 3)  # 21 neurons -> 3 bytes
    np.testing.assert_array_equal(np.unpackbits(packed, axis=1)[:, :21], (a.reshape(5, -1) > 0).numpy())


def bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))


def test_model_state_is_left_as_found():
    net = bn_net().eval()
    net(torch.randn(8, 1, 3, 3))  # eval: running stats unchanged, but make grads exist
    net[0].weight.grad = torch.ones_like(net[0].weight)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    count = tenas.count_linear_regions(net, torch.randn(100, 1, 3, 3, generator=torch.Generator().manual_seed(0)), batch_size=50)
    assert 1 < count <= 100
    assert not net.training and all(not m.training for m in net.modules())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(net[0].weight.grad, torch.ones_like(net[0].weight))
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(not m._forward_hooks for m in net.modules())


def test_hooks_are_removed_when_the_forward_raises():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(4, 1))  # shape error after the ReLU
    with pytest.raises(RuntimeError):
        tenas.count_linear_regions(net, torch.randn(5, 2))
    assert all(not m._forward_hooks for m in net.modules())


def test_train_mode_uses_each_forward_batch_statistics():
    net = bn_net()
    x = torch.randn(400, 1, 3, 3, generator=torch.Generator().manual_seed(2))
    whole = tenas.count_linear_regions(net, x)
    assert whole == tenas.count_linear_regions(net, [x])
    # eval mode with fresh running stats (mean 0, var 1) is a different, fixed network
    assert tenas.count_linear_regions(net, x, train=False) == tenas.count_linear_regions(net, x, train=False, batch_size=7)


def test_registered_as_a_proxy_where_higher_is_better():
    proxy = tenas.get_proxy("linear_regions")
    assert proxy.higher_is_better and proxy.fn is tenas.count_linear_regions


def test_bad_input_gives_one_line_errors():
    net = mlp([2, 3, 1])
    with pytest.raises(ValueError, match="batch_size"):
        tenas.count_linear_regions(net, torch.randn(4, 2, dtype=torch.float64), batch_size=0)
    with pytest.raises(ValueError, match="tensor or an iterable"):
        tenas.count_linear_regions(net, [[1.0, 2.0]])


def test_thin_supernet_on_real_crops(cifar10_npz):
    from tenas.data import load_npz

    check_thin_supernet(load_npz(cifar10_npz))


def test_thin_supernet_on_cifar10_like_crops(tmp_path):
    """The same checks without ../shared/data: crops of a small npz with CIFAR-10-like pixel statistics."""
    from tenas.data import load_npz
    from tests.conftest import write_fake_npz

    check_thin_supernet(load_npz(write_fake_npz(tmp_path / "cifar10_like.npz", num_samples=256)))


def check_thin_supernet(dataset):
    crops = random_crops(dataset, 1000, 3, 1, torch.Generator().manual_seed(0))
    assert crops.shape == (1000, 1, 3, 3)
    assert abs(float(crops.mean())) < 0.5 and 0.5 < float(crops.std()) < 1.5  # normalised
    space = get_space("nasbench201")
    from omegaconf import OmegaConf

    te_nas = OmegaConf.load(tenas.CONF_DIR / "ranking" / "te_nas.yaml").proxy.linear_regions
    recipe = ScoringRecipe.load("linear_regions", te_nas)  # TE-NAS's thin network and 3 x 1000 crops, every ReLU
    assert recipe.settings["network"] == {"C": 1, "N": None, "stem": False} and recipe.settings["options"] == {"relus": None}
    indicator = ProxyIndicator(recipe, space, dataset)
    alive = space.full_alive_set().without_op_everywhere("none")
    sets = [alive, alive.without("cell", 0, "nor_conv_3x3"), alive.without("cell", 5, "skip_connect")]
    indicator.new_repeat(torch.Generator().manual_seed(0))
    first = indicator.score(sets)
    indicator.new_repeat(torch.Generator().manual_seed(0))
    assert indicator.score(sets) == first  # same seed, same weights and crops
    assert all(1 < s <= 3000 for s in first) and len(set(first)) > 1


def test_relus_filter_counts_only_the_named_relu_modules():
    net = mlp([2, 6, 5, 1])  # Sequential: 0 Linear, 1 ReLU, 2 Linear, 3 ReLU, 4 Linear
    x = torch.randn(2000, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 3
    layers = [(m.weight.detach(), m.bias.detach()) for m in net if isinstance(m, nn.Linear)]
    first_only = independent_count(layers[:1] + [layers[-1]], x)  # the first hidden layer's patterns
    assert tenas.count_linear_regions(net, x, relus=r"^1$") == first_only
    assert tenas.count_linear_regions(net, x, relus=r"^[13]$") == tenas.count_linear_regions(net, x) == independent_count(layers, x)
    assert first_only < independent_count(layers, x)
    with pytest.warns(RuntimeWarning, match="matches 'nothing'"):
        assert tenas.count_linear_regions(net, x, relus="nothing") == 1
    with pytest.raises(ValueError, match="regular expression"):
        tenas.count_linear_regions(net, x, relus=["1"])


def test_cells_relus_filter_on_nb201_network():
    from search_spaces.nasbench201 import NB201Network, parse_arch

    arch = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
    net = NB201Network(1, 1, 10, candidate_ops=[[op] for op in parse_arch(arch)], stem=False)
    cells = r"^cells\.\d+\.edges\."
    names = [n for n, m in net.named_modules() if isinstance(m, nn.ReLU)]
    chosen = [n for n in names if __import__("re").search(cells, n)]
    assert chosen and len(chosen) < len(names) and all(".edges." in n for n in chosen)
    x = torch.randn(500, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    assert 1 < tenas.count_linear_regions(net, x, relus=cells) <= tenas.count_linear_regions(net, x)
    # an architecture without conv ops has no cell ReLUs: one region (with a warning)
    pools = NB201Network(1, 1, 10, candidate_ops=[["avg_pool_3x3"]] * 6, stem=False)
    with pytest.warns(RuntimeWarning, match="no nn.ReLU"):
        assert tenas.count_linear_regions(pools, x, relus=cells) == 1


def test_study_default_counts_the_cells_relus_of_a_deeper_thin_network():
    settings = ScoringRecipe.load("linear_regions").settings
    assert settings["network"] == {"C": 1, "N": 3, "stem": False}
    assert settings["inputs"] == {"kind": "crops", "crop_size": 3, "batch_size": 1000, "num_batches": 3}
    assert settings["options"] == {"relus": r"^cells\.\d+\.edges\."}
