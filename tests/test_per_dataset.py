"""Per-dataset search (benchmark.dataset): the benchmark dataset's class count and resolution reach every
proxy's network and inputs, stand-in images are stated, the headline accuracy is that dataset's; and the
FreeREA preset end to end on the shared sample, same seed same result."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces import get_space
from tenas import CONF_DIR
from tenas.data import BENCHMARK_DATASETS, for_benchmark, load_npz, synthetic
from tenas.proxies import list_proxies
from tenas.scoring import ProxyIndicator
from tenas.search import run_search
from tests.conftest import REPO, shared_file
from tests.test_proxies import small_recipe
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)


@pytest.mark.parametrize("target", list(BENCHMARK_DATASETS))
def test_a_stand_in_gets_the_targets_classes_and_resolution(target):
    data = synthetic(64, 32, 3, 10, seed=0)
    view, note = for_benchmark(data, target)
    spec = BENCHMARK_DATASETS[target]
    assert view.num_classes == spec["classes"] and view.image_shape == (3, spec["size"], spec["size"])
    assert (note is None) == (target == "cifar10")
    assert torch.equal(view.labels, data.labels)  # the stand-in's labels are kept, as classes of the larger head
    if spec["size"] != 32:  # resized once with a box filter: each pixel the mean of a 2x2 block, rounded
        pooled = torch.nn.functional.avg_pool2d(data.images.float(), 2)
        assert (view.images.float() - pooled).abs().max() <= 0.5 and view.pad == 2
    x = view.sample(8, torch.Generator().manual_seed(0))
    assert x.shape == (8, 3, spec["size"], spec["size"]) and torch.isfinite(x).all()


def test_the_16px_stand_in_looks_like_real_16px_imagenet():
    """CIFAR-10 resized to 16 px against 20 real ImageNet images box-resized to 16 px: the same shape and
    comparable pixel statistics (mean and contrast within a factor the datasets differ by)."""
    cifar = load_npz(shared_file("cifar10/cifar10_train_first4000.npz"))
    real = np.load(shared_file("imagenet16/imagenet_val_20_16x16.npz"))["x"]
    view, note = for_benchmark(cifar, "imagenet16_120")
    assert "stands in for imagenet16_120" in note and view.image_shape == (3, 16, 16) == (real.shape[3], *real.shape[1:3])
    stand_in = view.images.float()
    assert abs(stand_in.mean().item() - real.mean()) < 30 and 0.5 < stand_in.std().item() / real.std() < 2


@pytest.mark.parametrize("name", list_proxies())
@pytest.mark.parametrize("target", ["cifar100", "imagenet16_120"])
def test_every_proxy_scores_the_target_datasets_network(name, target):
    view, _ = for_benchmark(synthetic(64, 32, 3, 10, seed=0), target)
    ind = ProxyIndicator(small_recipe(name), get_space("nasbench201"), view)
    assert ind.net.classifier.out_features == BENCHMARK_DATASETS[target]["classes"]
    ind.new_repeat(torch.Generator().manual_seed(0))
    batches = ind.inputs if isinstance(ind.inputs, list) else [ind.inputs]
    size = BENCHMARK_DATASETS[target]["size"]
    if ind.recipe.settings["inputs"]["kind"] != "crops":
        assert all(x.shape[-2:] == (size, size) for x in batches)
    if ind.recipe.proxy.needs_targets:
        targets = ind.targets if isinstance(ind.targets, list) else [ind.targets]
        assert all(int(t.max()) < BENCHMARK_DATASETS[target]["classes"] for t in targets)
    alive = get_space("nasbench201").random_single_path(torch.Generator().manual_seed(1))
    assert np.isfinite(ind.score([alive])[0]) or name in ("synflow",)


def compose_search(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


TINY = ["strategy.population_size=6", "strategy.sample_size=3", "strategy.budget=10"]
FREEREA_TINY = ["+experiment=freerea", *TINY]
PRESETS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("target", list(BENCHMARK_DATASETS))
def test_every_preset_end_to_end_per_dataset(cifar10_npz, nb201_csv, tmp_path, target, preset):
    data = ["dataset=npz", f"dataset.path={cifar10_npz}", f"benchmark.path={nb201_csv}", f"benchmark.dataset={target}"]
    cfg = compose_search([f"+experiment={preset}", *TINY, *data])
    assert cfg.ranking.name == preset and cfg.strategy.parents == 2 and cfg.strategy.crossover and cfg.search.repeats == 1
    a = run_search(cfg, tmp_path / "a")
    b = run_search(compose_search([f"+experiment={preset}", *TINY, *data]), tmp_path / "b")
    assert a["arch"] == b["arch"] and a["merit"] == b["merit"] and a["num_scored"] == 10
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a" / "candidates.csv"), pd.read_csv(tmp_path / "b" / "candidates.csv"))
    table = pd.read_csv(nb201_csv).set_index("arch_str")
    column = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "imagenet16_120": "imagenet16_120_test"}[target]
    assert a["benchmark_dataset"] == target and a["test_accuracy"] == pytest.approx(table.loc[a["arch"], column])
    assert set(a["test_accuracies"]) == {"cifar10", "cifar100", "ImageNet16-120"}
    saved = json.loads((tmp_path / "a" / "genotype.json").read_text())
    assert saved["test_accuracy"] == a["test_accuracy"]
    assert f"dataset: {target}" in (tmp_path / "a" / "config.yaml").read_text()
    pop = pd.read_csv(tmp_path / "a" / "candidates.csv")
    assert {"logsynflow", "nwot", "skip_prior", "kind", "parent2"} <= set(pop.columns) and pop.arch.is_unique


def test_the_dataset_searched_for_changes_the_scores(cifar10_npz, tmp_path):
    """The same seed searched for CIFAR-10 and for ImageNet16-120 scores other networks (classes, 16 px inputs)."""
    runs = {}
    for target in ("cifar10", "imagenet16_120"):
        cfg = compose_search([*FREEREA_TINY, "dataset=npz", f"dataset.path={cifar10_npz}", f"benchmark.dataset={target}"])
        run_search(cfg, tmp_path / target)
        runs[target] = pd.read_csv(tmp_path / target / "candidates.csv").set_index("arch")
    common = runs["cifar10"].index.intersection(runs["imagenet16_120"].index)
    assert len(common) >= 6  # the same initial population
    assert not np.allclose(runs["cifar10"].loc[common, "logsynflow"], runs["imagenet16_120"].loc[common, "logsynflow"])
    assert np.array_equal(runs["cifar10"].loc[common, "skip_prior"], runs["imagenet16_120"].loc[common, "skip_prior"])
