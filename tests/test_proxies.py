"""Every registered proxy, through its own protocol (conf/proxy/<name>.yaml): finite on real images
(CIFAR-10-like stand-ins when ../shared/data is absent),
pure, deterministic under a seed, with a declared direction. A new proxy is tested by being registered."""
from __future__ import annotations

import math

import pytest
import torch

import tenas
from search_spaces.nasbench201 import NB201Network, parse_arch
from tenas import CONF_DIR
from tenas.data import load_npz
from tenas.init import initialise
from tenas.proxies import get_proxy, list_proxies, proxy_settings
from tenas.scoring import ScoringRecipe
from tests.conftest import REPO

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"


def small_recipe(name: str) -> ScoringRecipe:
    """The proxy's protocol on a small network (width <= 4, one cell per stage) and a small batch."""
    settings = proxy_settings(name)
    network = settings["network"]
    overrides = {"network": {"C": min(network["C"] or 3, 4), "N": 1}}
    if settings["inputs"]["kind"] != "crops":
        overrides["inputs"] = {"batch_size": min(int(settings["inputs"]["batch_size"]), 16)}
    return ScoringRecipe.load(name, overrides)


def scored_network(recipe: ScoringRecipe, seed: int = 0):
    net_options = {"C": 3, "N": 1, "stem": True, **recipe.network_options()}
    net = NB201Network(net_options["C"], net_options["N"], 10, candidate_ops=[[op] for op in parse_arch(ARCH)], stem=net_options["stem"])
    generator = torch.Generator().manual_seed(seed)
    initialise(net, recipe.settings["init"], generator)
    return net, generator


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The shared CIFAR-10 sample when present; otherwise a small stand-in in its format with CIFAR-10-like
    pixel statistics, so that every proxy is still checked without ../shared/data."""
    from tests.conftest import SHARED_DATA, write_fake_npz

    real = SHARED_DATA / "cifar10/cifar10_train_first4000.npz"
    if real.is_file():
        return load_npz(real)
    return load_npz(write_fake_npz(tmp_path_factory.mktemp("images") / "cifar10_like.npz", num_samples=256))


def state_of(net: torch.nn.Module) -> dict:
    return {
        "params": [p.detach().clone() for p in net.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in net.parameters()],
        "buffers": [b.detach().clone() for b in net.buffers()],
        "modes": [m.training for m in net.modules()],
        "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in net.modules()),
    }


def assert_same_state(before: dict, after: dict) -> None:
    assert all(torch.equal(a, b) for a, b in zip(before["params"], after["params"])), "parameters changed"
    assert [g is None for g in before["grads"]] == [g is None for g in after["grads"]], ".grad fields changed"
    assert all(torch.equal(a, b) for a, b in zip(before["grads"], after["grads"]) if a is not None), ".grad values changed"
    assert all(torch.equal(a, b) for a, b in zip(before["buffers"], after["buffers"])), "buffers (BN running statistics) changed"
    assert before["modes"] == after["modes"], "module modes changed"
    assert before["hooks"] == after["hooks"], "hooks left behind"


@pytest.mark.parametrize("name", list_proxies())
def test_proxy_is_finite_pure_and_deterministic(name, images):
    proxy = get_proxy(name)
    assert isinstance(proxy.higher_is_better, bool)
    recipe = small_recipe(name)
    net, generator = scored_network(recipe)
    inputs, targets = recipe.draw(net, images, generator)
    if proxy.needs_targets:
        assert targets is not None
    net.train(False)  # not the mode proxies compute in: it must come back
    net.classifier.weight.grad = torch.ones_like(net.classifier.weight)  # a stale gradient must survive
    before = state_of(net)
    rng = torch.get_rng_state()
    first = recipe.score(net, inputs, targets)
    assert math.isfinite(first), f"{name} is not finite on a {images.name} batch: {first}"
    assert_same_state(before, state_of(net))
    assert torch.equal(rng, torch.get_rng_state()), f"{name} used the global RNG"
    second = recipe.score(net, inputs, targets)
    assert second == pytest.approx(first, rel=1e-6, abs=1e-9), f"{name} is not deterministic: {first} vs {second}"
    # same seed, same score: weights and inputs drawn anew from the seed give the same answer
    again, generator = scored_network(recipe)
    assert recipe.score(again, *recipe.draw(again, images, generator)) == pytest.approx(first, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", list_proxies())
def test_proxy_config_is_complete(name):
    """Every proxy states its whole protocol in conf/proxy/<name>.yaml, with known kinds."""
    from tenas.init import INIT_METHODS
    from tenas.proxies import CONF_DIR
    from tenas.scoring import INPUT_KINDS

    assert (CONF_DIR / f"{name}.yaml").is_file(), f"conf/proxy/{name}.yaml is missing"
    settings = proxy_settings(name)
    assert settings["init"] in INIT_METHODS
    assert settings["inputs"]["kind"] in INPUT_KINDS
    assert int(settings["inputs"]["batch_size"]) >= 1 and int(settings["inputs"]["num_batches"]) >= 1
    if settings["inputs"]["kind"] == "crops":
        assert int(settings["inputs"]["crop_size"]) >= 1
    assert get_proxy(name).doc, f"{name} has no docstring"


def test_non_finite_scores_come_back_as_nan():
    from tenas.proxies import Proxy

    proxy = Proxy("broken", lambda model, inputs: float("inf"), higher_is_better=True)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        assert math.isnan(proxy(torch.nn.Identity(), torch.zeros(1)))


def test_kappa_between_a_forward_and_its_backward_leaves_the_graph_usable():
    """κ writes nothing back into a network it did not change (no parameter, no buffer): a caller's pending
    backward still runs, as in a training loop that measures κ along the way (scripts/lazy_training.py)."""
    recipe = small_recipe("ntk")
    net, generator = scored_network(recipe)
    net.train(True)
    pending = net(torch.randn(4, 3, 32, 32)).pow(2).sum()
    recipe.score(net, torch.randn(8, 3, 32, 32), None)
    pending.backward()  # "modified by an inplace operation" if a weight or buffer was written back
    assert net.classifier.weight.grad is not None


SHARED = [name for name in list_proxies() if get_proxy(name).needs]


def test_the_shared_pass_proxies_are_the_published_groups():
    """AZ-NAS's four, NASLib's gradient saliencies and the two SynFlows read shared passes; the rest run alone."""
    assert {"az_expressivity", "az_progressivity", "az_trainability", "az_complexity", "snip", "grad_norm", "fisher",
            "plain", "synflow", "logsynflow"} <= set(SHARED)


@pytest.mark.parametrize("name", list_proxies())
def test_proxy_scored_with_every_shared_pass_proxy_equals_itself_alone(name, images):
    """tenas.score of ``name`` together with every shared-pass proxy (one forward, one backward for all of them)
    equals ``name`` called alone on the same network and inputs, to 1e-6 relative; so does every partner."""
    recipe = small_recipe(name)
    net, generator = scored_network(recipe)
    inputs, targets = recipe.draw(net, images, generator)
    if targets is None:
        rows = sum(len(x) for x in inputs) if isinstance(inputs, list) else len(inputs)
        targets = torch.randint(10, (rows,), generator=generator)
        if isinstance(inputs, list):
            targets = list(targets.split([len(x) for x in inputs]))
    together_names = [name] + [p for p in SHARED if p != name] if get_proxy(name).needs else [name]
    options = {p: recipe.settings["options"] if p == name else small_recipe(p).settings["options"] for p in together_names}
    forwards = []
    handle = net.register_forward_hook(lambda *_: forwards.append(1))
    together = tenas.score(net, inputs, together_names, targets=targets, options=options)
    handle.remove()
    if get_proxy(name).needs and not isinstance(inputs, list):
        assert len(forwards) == 1, f"{len(forwards)} forwards of the network for {len(together_names)} shared-pass proxies"
    for p in together_names:
        proxy = get_proxy(p)
        alone = proxy(net, inputs, **options[p], **({"targets": targets} if proxy.needs_targets else {}))
        assert together[p] == pytest.approx(alone, rel=1e-6, abs=1e-12), f"{p}: {together[p]} together, {alone} alone"


def test_score_refuses_proxies_that_need_targets_without_them():
    net, _ = scored_network(small_recipe("snip"))
    with pytest.raises(ValueError, match=r"\['snip'\] need targets"):
        tenas.score(net, torch.randn(4, 3, 32, 32), ["snip", "az_complexity"])


@pytest.mark.parametrize("ranking", sorted(p.stem for p in (CONF_DIR / "ranking").glob("*.yaml")))
def test_a_study_scores_each_preset_ranking_as_its_proxies_one_at_a_time(ranking, images):
    """The study's grouped scoring (one network per protocol, one initialisation per repeat, one draw and shared
    passes per inputs protocol) equals every proxy of the preset scored alone on its own network with the same
    weights and its group's draw."""
    from omegaconf import OmegaConf

    from search_spaces import get_space
    from tenas.arch_scorer import build_plan, protocol_groups, score_architecture, weight_seed

    proxies = OmegaConf.load(CONF_DIR / "ranking" / f"{ranking}.yaml").proxies
    recipes = tuple(small_recipe(p) for p in proxies)
    space = get_space("nasbench201")
    plan = build_plan(3, 2, recipes, space, images, "cpu")
    row = score_architecture(plan, ARCH)
    key = space.arch_key(ARCH)
    for net_key, inits in protocol_groups(recipes):
        for init, draws in inits:
            for inputs_key, group in draws:
                for recipe in group:
                    values = []
                    for r in range(2):
                        net = space.scoring_network(ARCH, images.num_classes, **recipe.network_options())
                        initialise(net, init, torch.Generator().manual_seed(weight_seed(3, key, r)))
                        values.append(recipe.score(net, *plan.inputs[(net_key, inputs_key)][r]))
                    assert row[recipe.name] == pytest.approx(sum(values) / 2, rel=1e-6, abs=1e-12), recipe.name


def test_an_architecture_score_is_the_mean_of_its_finite_repeats(images):
    """A repeat whose score is not finite is left out of the architecture's mean (the documented fallback); an
    architecture with no finite repeat scores NaN, the worst on every ranking, not a number made up."""
    from search_spaces import get_space
    from tenas.arch_scorer import build_plan, score_architecture
    from tenas.proxies import PROXIES, register_proxy

    calls = {"odd": 0}

    def odd_repeats_fail(model, inputs):
        calls["odd"] += 1
        return float("nan") if calls["odd"] % 2 else float(calls["odd"])

    register_proxy("odd_repeats_fail", higher_is_better=True)(odd_repeats_fail)
    register_proxy("never_finite", higher_is_better=True)(lambda model, inputs: float("inf"))
    try:
        recipes = tuple(ScoringRecipe.load(name, {"network": {"C": 2, "N": 1}, "inputs": {"batch_size": 4}})
                        for name in ("odd_repeats_fail", "never_finite"))
        with pytest.warns(RuntimeWarning):
            row = score_architecture(build_plan(0, 3, recipes, get_space("nasbench201"), images, "cpu"), ARCH)
    finally:
        del PROXIES["odd_repeats_fail"], PROXIES["never_finite"]
    assert calls["odd"] == 3 and row["odd_repeats_fail"] == 2.0  # repeats 1 and 3 are NaN: the mean of repeat 2
    assert math.isnan(row["never_finite"])
