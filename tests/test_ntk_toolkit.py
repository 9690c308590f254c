"""The NTK toolkit: cross and per-class kernels, spectra, the analytic two-layer kernel, linearised dynamics."""
import copy
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from tenas.ntk import (
    TwoLayerReLU,
    empirical_ntk,
    gradient_descent,
    gradient_flow,
    kernel_spectrum,
    ntk_matrix,
    two_layer_relu_ntk,
)


def small_bn_net():
    """Conv (with bias) + BatchNorm + linear head, float64, three classes."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3),
    ).double()


def per_sample_reference(model, x1, x2, *, params, train, per_class):
    """Reference kernel: each set forwarded as its own batch, one backward per output, then one dot per pair."""
    model = copy.deepcopy(model).train(train)
    selected = [p for n, p in model.named_parameters() if params is None or params in n]

    def gradients(x):
        out = model(x)
        outputs = out.reshape(-1) if per_class else out.sum(1)
        return [torch.autograd.grad(o, selected, retain_graph=True) for o in outputs]

    g1, g2 = gradients(x1), gradients(x2)
    K = torch.zeros(len(g1), len(g2), dtype=torch.float64)
    for a, ga in enumerate(g1):
        for b, gb in enumerate(g2):
            K[a, b] = sum((u * v).sum() for u, v in zip(ga, gb))
    return K


def inputs(n, seed):
    return torch.randn(n, 3, 6, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def unit_vectors(n, d, seed):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


# --- empirical kernel -------------------------------------------------------------------------

@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("params", ["weight", None])
@pytest.mark.parametrize("per_class", [False, True])
def test_cross_kernel_matches_per_sample_reference(train, params, per_class):
    model = small_bn_net()
    model.eval()
    x1, x2 = inputs(5, 1), inputs(4, 2)
    buffers = [b.clone() for b in model.buffers()]
    K = empirical_ntk(model, x1, x2, params=params, train=train, per_class=per_class, chunk_size=3)
    assert K.shape == ((15, 12) if per_class else (5, 4))
    expected = per_sample_reference(model, x1, x2, params=params, train=train, per_class=per_class)
    torch.testing.assert_close(K, expected, rtol=1e-10, atol=1e-10)
    assert not model.training and all(torch.equal(a, b) for a, b in zip(buffers, model.buffers()))


def test_summed_kernel_is_sum_of_per_class_blocks():
    model, x1, x2 = small_bn_net(), inputs(5, 1), inputs(4, 2)
    summed = empirical_ntk(model, x1, x2)
    full = empirical_ntk(model, x1, x2, per_class=True)
    torch.testing.assert_close(full.reshape(5, 3, 4, 3).sum(dim=(1, 3)), summed, rtol=1e-10, atol=1e-10)


def test_square_kernel_is_the_batch_kernel_and_chunking_changes_nothing():
    model, x = small_bn_net(), inputs(6, 3)
    K = empirical_ntk(model, x, chunk_size=None)
    torch.testing.assert_close(K, ntk_matrix(model, x), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(empirical_ntk(model, x, x, chunk_size=1), K, rtol=1e-10, atol=1e-10)


def test_joint_batch_kernel_is_a_block_of_the_concatenated_batch():
    model, x1, x2 = small_bn_net(), inputs(5, 1), inputs(4, 2)
    joint = empirical_ntk(model, x1, x2, joint=True, per_class=True)
    whole = empirical_ntk(model, torch.cat([x1, x2]), per_class=True)
    torch.testing.assert_close(joint, whole[:15, 15:], rtol=1e-10, atol=1e-10)
    # train-mode BN couples a batch, so the joint kernel differs from the separate-batch one ...
    assert not torch.allclose(joint, empirical_ntk(model, x1, x2, per_class=True))
    # ... and in eval mode they coincide
    torch.testing.assert_close(
        empirical_ntk(model, x1, x2, train=False, joint=True), empirical_ntk(model, x1, x2, train=False), rtol=1e-10, atol=1e-10
    )


def test_kernel_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same sample shape"):
        empirical_ntk(small_bn_net(), inputs(2, 0), torch.zeros(2, 3, 5, 5, dtype=torch.float64))


# --- spectrum ---------------------------------------------------------------------------------

def test_spectrum_of_a_known_matrix():
    eig = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    K = Q @ torch.diag(eig) @ Q.T
    s = kernel_spectrum(K)
    torch.testing.assert_close(s.eigenvalues, eig)
    assert s.lambda_min == pytest.approx(0.5) and s.lambda_max == pytest.approx(4.0)
    assert s.condition_number == pytest.approx(8.0) and s.trace == pytest.approx(7.5)
    p = np.array([0.5, 1, 2, 4]) / 7.5
    assert s.effective_rank == pytest.approx(math.exp(-(p * np.log(p)).sum()))
    assert s.stable_rank == pytest.approx(7.5 / 4)
    assert s.max_stable_learning_rate == pytest.approx(0.5)
    assert s.step_contraction(1 / 4.0) == pytest.approx(1 - 1 / 8.0)
    assert s.step_contraction(0.6) > 1  # past 2 / λ_max gradient descent diverges

    flat = kernel_spectrum(torch.eye(5))
    assert flat.effective_rank == pytest.approx(5) and flat.stable_rank == pytest.approx(5) and flat.condition_number == 1
    singular = kernel_spectrum(torch.tensor([[1.0, 1.0], [1.0, 1.0]]))
    assert singular.condition_number == math.inf and singular.effective_rank == pytest.approx(1)
    with pytest.raises(ValueError, match="square"):
        kernel_spectrum(torch.ones(2, 3))


def test_loss_bound_holds_and_is_tight_on_the_slowest_eigenvector():
    A = torch.randn(6, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    K = A @ A.T + 0.1 * torch.eye(6, dtype=torch.float64)
    s = kernel_spectrum(K)
    lr, times = 0.5 / s.lambda_max, torch.linspace(0, 50, 11)
    y = torch.zeros(6, dtype=torch.float64)
    u0 = torch.randn(6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    loss = 0.5 * (gradient_flow(K, y, u0, times, lr=lr).train ** 2).sum(1)
    assert bool((loss / loss[0] <= s.loss_bound(lr, times) * (1 + 1e-9)).all())
    slowest = torch.linalg.eigh(K)[1][:, 0]
    loss = 0.5 * (gradient_flow(K, y, slowest, times, lr=lr).train ** 2).sum(1)
    torch.testing.assert_close(loss / loss[0], s.loss_bound(lr, times))


# --- analytic kernel --------------------------------------------------------------------------

def test_analytic_kernel_known_values():
    x = torch.tensor([[3.0, 0.0], [0.0, 2.0], [-1.5, 0.0]], dtype=torch.float64)
    K = two_layer_relu_ntk(x)
    torch.testing.assert_close(torch.diag(K), (x ** 2).sum(1))  # ‖x‖²/2 from each layer
    assert K[0, 1] == pytest.approx(3 * 2 / (2 * math.pi))  # orthogonal: only the readout term, ‖x‖‖x'‖/(2π)
    assert K[0, 2] == pytest.approx(0.0)  # opposite: no unit is active on both
    readout = two_layer_relu_ntk(x, hidden=False)
    torch.testing.assert_close(readout + two_layer_relu_ntk(x, readout=False), K)


def test_empirical_ntk_converges_to_analytic_like_inverse_sqrt_width():
    x = unit_vectors(8, 8, seed=0)
    limit = two_layer_relu_ntk(x)
    widths = [64, 256, 1024, 4096, 16384]
    errors = []
    for w, width in enumerate(widths):
        per_seed = []
        for seed in range(4):
            net = TwoLayerReLU(8, width, generator=torch.Generator().manual_seed(100 * w + seed)).double()
            K = empirical_ntk(net, x, params=None, train=False)
            per_seed.append(float((K - limit).norm() / limit.norm()))
        errors.append(np.mean(per_seed))
    slope = np.polyfit(np.log(widths), np.log(errors), 1)[0]
    assert slope == pytest.approx(-0.5, abs=0.12), (slope, errors)
    assert errors[-1] < 0.03


def test_each_layer_kernel_converges_to_its_own_term():
    x = unit_vectors(6, 5, seed=1)
    net = TwoLayerReLU(5, 16384, generator=torch.Generator().manual_seed(0)).double()
    for name, only in (("readout.weight", dict(hidden=False)), ("hidden.weight", dict(readout=False))):
        K, limit = empirical_ntk(net, x, params=[name], train=False), two_layer_relu_ntk(x, **only)
        assert float((K - limit).norm() / limit.norm()) < 0.05, name


# --- linearised dynamics ----------------------------------------------------------------------

def random_problem(seed, n=6, m=3, k=2):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64)
    K = A @ A.T
    draw = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: E731
    return K, draw(n, k), draw(n, k), draw(m, n), draw(m, k)


def test_gradient_descent_closed_form_equals_iterating_the_update():
    K, y, u0, Ks, u0s = random_problem(0)
    lr = 1.5 / float(torch.linalg.eigvalsh(K)[-1])  # some modes oscillate (1 - ηλ < 0)
    steps = [0, 1, 7, 60]
    pred = gradient_descent(K, y, u0, steps, lr=lr, test_kernel=Ks, test_initial=u0s)
    u, us = u0.clone(), u0s.clone()
    for s in range(1, 61):
        r = u - y
        u, us = u - lr * K @ r, us - lr * Ks @ r
        if s in steps:
            torch.testing.assert_close(pred.train[steps.index(s)], u)
            torch.testing.assert_close(pred.test[steps.index(s)], us)
    torch.testing.assert_close(pred.train[0], u0)


def test_gradient_flow_equals_matrix_exponential_and_its_integral():
    K, y, u0, Ks, u0s = random_problem(1)
    lr, t = 0.3 / float(torch.linalg.eigvalsh(K)[-1]), 4.0
    pred = gradient_flow(K, y, u0, [t], lr=lr, test_kernel=Ks, test_initial=u0s)
    E = torch.from_numpy(scipy.linalg.expm(-lr * t * K.numpy()))
    torch.testing.assert_close(pred.train[0], y + E @ (u0 - y))
    # ∫_0^t e^{-ηKs} ds = K⁻¹(I - e^{-ηKt}) / η for this (invertible) K
    integral = torch.linalg.solve(K, torch.eye(6, dtype=torch.float64) - E) / lr
    torch.testing.assert_close(pred.test[0], u0s - lr * Ks @ integral @ (u0 - y))


def test_small_steps_approach_the_flow_and_singular_kernels_need_no_inverse():
    _, y, u0, Ks, u0s = random_problem(2)
    B = torch.randn(6, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    K = B @ B.T  # rank 5: one zero eigenvalue
    lr = 1e-3 / float(torch.linalg.eigvalsh(K)[-1])
    flow = gradient_flow(K, y, u0, [2000.0], lr=lr, test_kernel=Ks, test_initial=u0s)
    descent = gradient_descent(K, y, u0, [2000], lr=lr, test_kernel=Ks, test_initial=u0s)
    assert bool(torch.isfinite(flow.test).all())
    torch.testing.assert_close(descent.train, flow.train, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(descent.test, flow.test, rtol=1e-3, atol=1e-3)


def test_dynamics_reject_bad_input():
    K, y, u0, Ks, u0s = random_problem(3)
    with pytest.raises(ValueError, match="whole numbers"):
        gradient_descent(K, y, u0, [1.5], lr=0.1)
    with pytest.raises(ValueError, match="positive"):
        gradient_flow(K, y, u0, [1.0], lr=0.0)
    with pytest.raises(ValueError, match="together"):
        gradient_flow(K, y, u0, [1.0], lr=0.1, test_kernel=Ks)
    with pytest.raises(ValueError, match="targets and initial"):
        gradient_flow(K, y[:4], u0, [1.0], lr=0.1)


def test_linearised_predictions_match_real_training_better_as_width_grows():
    """Full-batch GD on ½Σ(f - y)² of a two-layer ReLU net vs the closed form with its NTK at init."""
    x = unit_vectors(24, 4, seed=3)
    y = torch.sin(3 * x[:, 0]) + x[:, 1]
    x_train, y_train, x_test = x[:16], y[:16], x[16:]
    steps = 100
    errors = []
    for width in (128, 2048):
        net = TwoLayerReLU(4, width, generator=torch.Generator().manual_seed(width)).double()
        K = empirical_ntk(net, x_train, params=None, train=False)
        K_test = empirical_ntk(net, x_test, x_train, params=None, train=False)
        lr = 1.0 / kernel_spectrum(K).lambda_max
        with torch.no_grad():
            u0, u0_test = net(x_train)[:, 0], net(x_test)[:, 0]
        pred = gradient_descent(K, y_train, u0, [steps], lr=lr, test_kernel=K_test, test_initial=u0_test)
        optimizer = torch.optim.SGD(net.parameters(), lr=lr)
        for _ in range(steps):
            optimizer.zero_grad()
            (0.5 * ((net(x_train)[:, 0] - y_train) ** 2).sum()).backward()
            optimizer.step()
        with torch.no_grad():
            u, u_test = net(x_train)[:, 0], net(x_test)[:, 0]
        moved = torch.cat([pred.train[0] - u0, pred.test[0] - u0_test]).norm()
        errors.append(float(torch.cat([u - pred.train[0], u_test - pred.test[0]]).norm() / moved))
        assert float(((u - y_train) ** 2).sum()) < 0.05 * float(((u0 - y_train) ** 2).sum())  # it did train
    assert errors[1] < 0.03 and errors[1] < errors[0] / 2, errors
