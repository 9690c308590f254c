"""Every registered search space, through what a search, a genotype file and a retraining ask of it. (The other registries are looped
over where they are tested: rankings in test_ranking.py, proxies in test_proxies.py, dataset configs in
test_sweeps.py, strategies in test_strategies.py, DARTS ops in test_darts_space.py, NAS-Bench-201 ops in test_nb201_space.py.)"""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from search_spaces import get_space, list_spaces, space_class, space_from_config
from tenas import CONF_DIR
from tenas.init import kaiming_init_
from tenas.schema import ABSENT
from tenas.search import space_table
from tests.conftest import REPO
from tenas.pruning import decide_edges, prune_ops
from tenas.ranking import get_ranking


class WeightedIndicator:
    """score(alive) = 10 + Σ over cell types, edges and ops of alive weight (one weight table per cell type)."""

    name = "ntk"

    def __init__(self, weights: dict[str, np.ndarray]):
        self.weights = weights

    def new_repeat(self, generator):
        pass

    def score(self, alive_sets, progress=None):
        return [10.0 + sum(float((self.weights[c] * m.numpy()).sum()) for c, m in a.masks.items()) for a in alive_sets]


def test_both_spaces_are_registered():
    assert {"nasbench201", "darts"} <= set(list_spaces())


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_runs_a_search_to_a_genotype(name):
    space = get_space(name)
    alive = space.full_alive_set().without_op_everywhere("none")
    assert alive.op_names == tuple(space.op_names) and "none" in space.op_names
    assert {c: m.shape for c, m in alive.masks.items()} == {c: (e, len(space.op_names)) for c, e in space.edges_per_cell().items()}
    rng = np.random.default_rng(0)
    weights = {c: rng.uniform(0.1, 1.0, size=tuple(m.shape)) for c, m in alive.masks.items()}
    ind = WeightedIndicator(weights)
    ranking, generator = get_ranking("ntk"), torch.Generator().manual_seed(0)
    alive, rounds = prune_ops(alive, [ind], ranking, 1, generator)
    assert rounds and alive.is_single_path()
    for c, m in alive.masks.items():  # each edge keeps its lightest op (removing the heaviest lowers the score most)
        for e in range(m.shape[0]):
            w = np.where(space.full_alive_set().without_op_everywhere("none").masks[c][e].numpy(), weights[c][e], np.inf)
            assert alive.alive_ops(c, e) == [space.op_names[int(np.argmin(w))]]
    groups = space.edge_groups(alive)
    if groups:
        alive, _ = decide_edges(alive, groups, [ind], ranking, 1, generator)
    genotype = space.genotype(alive)
    assert json.loads(json.dumps(space.genotype_to_json(genotype)))
    assert space.arch_text(alive) == str(genotype)


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_supernet_reads_its_alive_set(name):
    space = get_space(name)
    net = space.build_supernet(num_classes=7)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    net.train()
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    full = space.full_alive_set().without_op_everywhere("none")
    with net.trying(full):
        a = net(x)
    assert a.shape == (4, 7) and torch.isfinite(a).all()
    single = space.random_single_path(torch.Generator().manual_seed(2))
    with net.trying(single):
        b = net(x)
    assert b.shape == (4, 7) and not torch.allclose(a, b)
    assert space.arch_text(single)


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_declares_the_settings_it_is_built_from(name):
    """``settings`` names the constructor's arguments; ``search_space=<name>`` sets each to the constructor's default
    (registered once, ``search_spaces.base.space_defaults``; its YAML holds only the search's keys), the checks
    accept the values, and a space built from that section takes them (and none of the search's own keys)."""
    from hydra import compose, initialize_config_dir

    cls = space_class(name)
    assert set(cls.settings) == set(inspect.signature(cls.__init__).parameters) - {"self"}
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        section = OmegaConf.to_container(compose(config_name="search", overrides=[f"search_space={name}"]).search_space, resolve=True)
    assert section["name"] == name and set(cls.settings) <= set(section)
    defaults = {k: p.default for k, p in inspect.signature(cls.__init__).parameters.items() if k in cls.settings}
    assert {k: section[k] for k in cls.settings} == {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}
    assert not set(cls.settings) & set(OmegaConf.load(CONF_DIR / "search_space" / f"{name}.yaml"))  # written once, in the class
    for setting in space_table(cls):
        setting.check(section.get(setting.key, ABSENT))
    space = space_from_config({**section, "C": 2})
    assert type(space) is cls and space.C == 2
    assert cls.config_options(section) == {key: section[key] for key in cls.settings}


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_writes_and_reads_back_its_genotypes(name):
    space = get_space(name)
    others = [get_space(other) for other in list_spaces() if other != name]
    for seed in range(3):
        alive = space.random_single_path(torch.Generator().manual_seed(seed))
        genotype = space.genotype(alive)
        text = space.genotype_text(genotype)
        assert space.arch_text(alive) == text and "\n" not in text
        assert space.parse_genotype(text) == genotype and space.is_genotype_text(text)
        assert not any(other.is_genotype_text(text) for other in others)
        fields = json.loads(json.dumps(space.genotype_to_json(genotype)))
        assert space.genotype_from_json(fields) == genotype
        assert space.alive_set_for(genotype) == alive
    with pytest.raises(ValueError):
        space.genotype_from_json({})
    with pytest.raises(ValueError):
        space.parse_genotype(text[: len(text) // 2])


@pytest.mark.parametrize("name", list_spaces())
def test_every_space_builds_its_genotypes_with_its_training_recipes(name):
    """For each dataset config, ``train_recipe`` names a recipe of conf/train.yaml whose ``network`` the space's
    ``network`` takes; the network (narrowed to C=4) classifies a CIFAR-sized batch."""
    space = get_space(name)
    recipes = OmegaConf.load(CONF_DIR / "train.yaml").recipes
    genotype = space.genotype(space.random_single_path(torch.Generator().manual_seed(0)))
    accepted = set(inspect.signature(space.network).parameters)
    for dataset in sorted(p.stem for p in (CONF_DIR / "dataset").glob("*.yaml")):
        recipe = space.train_recipe(dataset)
        assert recipe in recipes and set(recipes[recipe].network) <= accepted, (dataset, recipe)
    network = dict(recipes[space.train_recipe("cifar10")].network)
    net = space.network(genotype, 10, **{**network, "C": 4}).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
