import warnings

import pytest
import torch
from torch import nn

import tenas
from search_spaces import get_space
from tenas.init import kaiming_init_
from tenas.ntk import DEGENERATE_KAPPA, condition_number


def per_sample_kernel(model, x):
    """Reference: one forward in train mode, then one backward per sample of its class-summed logit."""
    model.train()
    out = model(x).sum(1)
    params = [p for n, p in model.named_parameters() if "weight" in n]
    rows = []
    for i in range(x.shape[0]):
        grads = torch.autograd.grad(out[i], params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)]))
    J = torch.stack(rows).double()
    return J @ J.T


def small_bn_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10),
    )


def scoring_supernet():
    space = get_space("nasbench201")
    net = space.build_supernet(num_classes=10)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    net.set_alive(space.full_alive_set().without_op_everywhere("none"))
    return net


def _images(n=32, size=32):
    """Random images through the data pipeline (augmented, normalised): no real data needed."""
    from tenas.data import synthetic

    return synthetic(64, image_size=size, seed=0).sample(n, torch.Generator().manual_seed(0))


def darts_scoring_supernet():
    space = get_space("darts")
    assert space.C == 1
    net = space.build_supernet(num_classes=10)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    net.set_alive(space.full_alive_set().without_op_everywhere("none"))
    assert all(cell.fused for cell in net.cells)
    return net


@pytest.mark.parametrize("build", [small_bn_net, scoring_supernet], ids=["bn-net", "nb201-supernet"])
def test_kernel_and_kappa_match_a_per_sample_loop(build):
    model = build()
    x = _images()
    reference = per_sample_kernel(model, x)
    kernel = tenas.ntk_matrix(model, x).double()
    assert kernel.shape == (32, 32)
    assert torch.linalg.norm(kernel - reference) / torch.linalg.norm(reference) < 1e-3
    kappa_ref = condition_number(reference)
    assert abs(tenas.ntk_condition_number(model, x) - kappa_ref) / kappa_ref < 1e-3


def test_semantic_slips_change_kappa_by_far_more():
    """The 1e-3 tolerance separates summation order from real mistakes (eval-mode BN, biases)."""
    model = small_bn_net()
    x = _images()
    kappa = tenas.ntk_condition_number(model, x)
    model(x)  # give the running statistics something to differ by
    eval_mode = tenas.ntk_condition_number(model, x, train=False)
    with_biases = tenas.ntk_condition_number(model, x, params=None)
    assert abs(eval_mode - kappa) / kappa > 1e-2
    assert abs(with_biases - kappa) / kappa > 1e-2


def test_model_is_left_as_found():
    model = small_bn_net().eval()
    x = _images(16)
    model(x.flip(0))  # some state to preserve
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    tenas.ntk_condition_number(model, x)
    assert not model.training and all(not m.training for m in model.modules())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())


def test_chunked_backward_gives_the_same_kernel():
    model = scoring_supernet()
    x = _images()
    full = tenas.ntk_matrix(model, x, chunk_size=None)
    chunked = tenas.ntk_matrix(model, x, chunk_size=5)
    torch.testing.assert_close(chunked, full, rtol=1e-4, atol=1e-6)


def test_degenerate_kernels_give_the_documented_fallback_with_a_warning():
    with pytest.warns(RuntimeWarning, match="singular"):
        assert condition_number(torch.ones(4, 4)) == DEGENERATE_KAPPA
    with pytest.warns(RuntimeWarning, match="non-finite"):
        assert condition_number(torch.full((3, 3), float("nan"))) == DEGENERATE_KAPPA
    # a network whose output does not depend on its weights for two identical samples: singular
    model = small_bn_net()
    x = torch.zeros(4, 3, 8, 8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tenas.ntk_condition_number(model, x) == DEGENERATE_KAPPA
    assert any(issubclass(w.category, RuntimeWarning) for w in caught)
    # well-conditioned diagonal kernel: exact ratio
    assert condition_number(torch.diag(torch.tensor([1.0, 2.0, 8.0]))) == pytest.approx(8.0)


def test_parameter_selection():
    model = small_bn_net()
    x = torch.randn(8, 3, 8, 8)
    J = tenas.ntk.jacobian(model, x)
    n_weights = sum(p.numel() for n, p in model.named_parameters() if "weight" in n)
    assert J.shape == (8, n_weights)
    J_conv = tenas.ntk.jacobian(model, x, params=["0.weight"])
    assert J_conv.shape == (8, model[0].weight.numel())
    with pytest.raises(ValueError, match="no trainable parameter"):
        tenas.ntk.jacobian(model, x, params=["nope.weight"])


def test_darts_supernet_kappa_matches_a_per_sample_loop_on_its_plain_twin():
    """The search's κ on the fused DARTS scoring supernet (C=1, normal + reduction cell) against the
    per-sample loop on the same weights in the plain (unfused) cells: float64 κ within 1e-3."""
    from search_spaces.darts import DartsNetwork

    space = get_space("darts")
    fused = darts_scoring_supernet()
    plain = DartsNetwork(space.C, 10, space.cells, stem_multiplier=space.stem_multiplier, final_bn_relu=True)
    assert not any(cell.fused for cell in plain.cells)
    plain.load_state_dict(fused.state_dict())
    plain.set_alive(fused.alive)
    x = _images(6)
    reference = per_sample_kernel(plain, x)
    kappa_ref = condition_number(reference)
    assert 1 < kappa_ref < 1e4
    kappa = tenas.ntk_condition_number(fused, x)
    assert abs(kappa - kappa_ref) / kappa_ref < 1e-3
    kernel = tenas.ntk_matrix(fused, x).double()
    assert torch.linalg.norm(kernel - reference) / torch.linalg.norm(reference) < 1e-3
    # eval-mode BatchNorm (running statistics instead of the batch's) is a different κ, far outside 1e-3
    assert abs(tenas.ntk_condition_number(fused, x, train=False) - kappa_ref) / kappa_ref > 1e-2


def test_kaiming_init_redraws_every_weight_from_the_generator():
    """κ is only as good as the weights it is scored on: every conv/linear weight re-drawn
    Kaiming-normal (std sqrt(2 / fan_in)), biases 0, BN γ 1 and β 0, running statistics reset,
    the same draws for the same seed."""
    model = small_bn_net()
    with torch.no_grad():
        for t in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
            t.fill_(7.0)
    kaiming_init_(model, torch.Generator().manual_seed(3))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            std = (2.0 / m.weight[0].numel()) ** 0.5
            assert abs(m.weight.std().item() / std - 1) < 0.35 and abs(m.weight.mean().item()) < std
            assert not m.bias.any()
        elif isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any()
            assert not m.running_mean.any() and torch.equal(m.running_var, torch.ones_like(m.running_var))
    again = kaiming_init_(small_bn_net(), torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    other = kaiming_init_(small_bn_net(), torch.Generator().manual_seed(4))
    assert not torch.equal(model[0].weight, other[0].weight)
