import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces import get_space
from search_spaces.darts import DARTS_V2, check_genotype, format_genotype
from tenas import CONF_DIR
from tenas.errors import TenasError
from tenas.export import read_genotype_file
from tenas.export import resolve_recipe
from tenas.train import cutout, run_training
from tests.conftest import REPO, shared_file
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)


NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def compose_train(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def write_json(path, data):
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def darts_file(tmp_path):
    """A genotype.json as a DARTS search writes it."""
    return write_json(tmp_path / "darts.json", {"search_space": "darts", **get_space("darts").genotype_to_json(check_genotype(DARTS_V2))})


@pytest.fixture
def nb201_file(tmp_path):
    return write_json(tmp_path / "nb201.json", {"search_space": "nasbench201", "arch": NB201_BEST})


def cifar_overrides():
    return ["dataset=npz", f"dataset.path={shared_file('cifar10/cifar10_train_first4000.npz')}", "trainer.progress=false"]


def test_darts_retraining_smoke_on_the_shared_cifar10_sample(darts_file, tmp_path):
    test_npz = shared_file("cifar10/cifar10_test_first1000.npz")
    cfg = compose_train([f"genotype={darts_file}", *cifar_overrides(), f"dataset.test_path={test_npz}", "trainer.max_steps=4",
                         "trainer.batch_size=16", "recipes.darts_cifar.network.C=8", "recipes.darts_cifar.network.layers=5"])
    result = run_training(cfg, tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["genotype"] == format_genotype(DARTS_V2) and saved["recipe"]["name"] == "darts_cifar"
    assert saved["recipe"]["cutout"] == 16 and saved["recipe"]["drop_path"] == 0.3 and saved["recipe"]["auxiliary_weight"] == 0.4
    assert saved["steps"] == 4 and saved["total_steps"] == 600 * (4000 // 16)
    assert 0 < saved["params_M"] < 0.1 and saved["flops_M"] > 1
    assert saved["test_images"] == 1000 and 0 <= saved["test_accuracy"] <= 100
    log = pd.read_csv(tmp_path / "run" / "train_log.csv")
    assert list(log["step"]) == [1, 2, 3, 4] and log["loss"].notna().all() and log["loss"].nunique() == 4
    assert (tmp_path / "run" / "state.pt").is_file() and "${" not in (tmp_path / "run" / "config.yaml").read_text()


def test_nb201_loss_falls_and_a_resumed_run_continues_from_its_checkpoint(nb201_file, tmp_path):
    base = [f"genotype={nb201_file}", *cifar_overrides(), "trainer.batch_size=64", "recipes.nasbench201.network.C=4",
            "recipes.nasbench201.network.N=1", "trainer.checkpoint_every=5"]
    whole = run_training(compose_train(base + ["trainer.max_steps=12"]), tmp_path / "whole")
    assert whole["recipe"]["nesterov"] and whole["recipe"]["lr"] == 0.1 and whole["test_accuracy"] is None
    first = run_training(compose_train(base + ["trainer.max_steps=7"]), tmp_path / "parts")
    assert first["steps"] == 7
    second = run_training(compose_train(base + ["trainer.max_steps=12"]), tmp_path / "parts")
    assert second["steps"] == 12
    a = pd.read_csv(tmp_path / "whole" / "train_log.csv")
    b = pd.read_csv(tmp_path / "parts" / "train_log.csv")
    pd.testing.assert_frame_equal(a, b)  # same batches, augmentation and optimiser state after the resume
    state_a = torch.load(tmp_path / "whole" / "state.pt", weights_only=False)["model"]
    state_b = torch.load(tmp_path / "parts" / "state.pt", weights_only=False)["model"]
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert a["loss"].tail(4).mean() < a["loss"].head(4).mean() - 0.03
    other = write_json(tmp_path / "other.json", {"search_space": "nasbench201", "arch": NB201_BEST.replace("skip_connect", "none")})
    with pytest.raises(TenasError, match=r"holds a training with other settings \(genotype differ\)"):
        run_training(compose_train([f"genotype={other}", *base[1:], "trainer.max_steps=13"]), tmp_path / "parts")
    fresh = run_training(compose_train([f"genotype={other}", *base[1:], "trainer.max_steps=3", "resume=false"]), tmp_path / "parts")
    assert fresh["steps"] == 3 and len(pd.read_csv(tmp_path / "parts" / "train_log.csv")) == 3  # started over, not resumed


def test_recipes_follow_the_genotype_space_and_accept_overrides(darts_file, nb201_file):
    darts = resolve_recipe(compose_train([f"genotype={darts_file}"]), read_genotype_file(darts_file))
    assert darts["name"] == "darts_cifar" and darts["network"] == {"C": 36, "layers": 20, "imagenet": False}
    assert (darts["epochs"], darts["batch_size"], darts["lr"], darts["weight_decay"]) == (600, 96, 0.025, 3e-4)
    imagenet = resolve_recipe(compose_train([f"genotype={darts_file}", "dataset=imagenet"]), read_genotype_file(darts_file))
    assert imagenet["network"] == {"C": 48, "layers": 14, "imagenet": True}
    nb = resolve_recipe(compose_train([f"genotype={nb201_file}", "trainer.epochs=3"]), read_genotype_file(nb201_file))
    assert nb["name"] == "nasbench201" and nb["epochs"] == 3 and (nb["batch_size"], nb["weight_decay"]) == (256, 5e-4)
    with pytest.raises(TenasError, match="does not build darts networks"):
        resolve_recipe(compose_train([f"genotype={darts_file}", "recipe=nasbench201"]), read_genotype_file(darts_file))


def test_cutout_zeroes_one_square_per_image():
    x = torch.ones(64, 3, 32, 32)
    out = cutout(x, 16, torch.Generator().manual_seed(0))
    zeros = (out[:, 0] == 0).sum((1, 2))
    assert bool((zeros <= 256).all()) and bool((zeros >= 64).all()) and bool((out[:, 0] == out[:, 2]).all())


def test_genotype_files_in_every_accepted_form(tmp_path, darts_file, nb201_file):
    assert read_genotype_file(darts_file).genotype == check_genotype(DARTS_V2)
    assert read_genotype_file(nb201_file).text() == NB201_BEST
    text = tmp_path / "genotypes.txt"
    text.write_text(format_genotype(DARTS_V2).replace("[2, 3, 4, 5]", "range(2, 6)") + "\n")
    assert read_genotype_file(text).search_space == "darts"
    text.write_text(NB201_BEST)
    assert read_genotype_file(text).search_space == "nasbench201"


V2_DICT = get_space("darts").genotype_to_json(check_genotype(DARTS_V2))


@pytest.mark.parametrize(
    "content, reason",
    [
        (None, "genotype file not found"),
        (b"\x89PNG\x00\xff", "not UTF-8 text"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "a JSON object with a 'search_space' field"),
        (json.dumps({"arch": NB201_BEST}), "a JSON object with a 'search_space' field"),
        (json.dumps({"search_space": "mobilenet", "arch": "x"}), "unknown search space 'mobilenet'"),
        (json.dumps({"search_space": "nasbench201"}), "needs an 'arch' field"),
        (json.dumps({"search_space": "nasbench201", "arch": "|nor_conv_3x3~0|"}), "malformed NAS-Bench-201 string"),
        (json.dumps({"search_space": "darts", "arch": NB201_BEST}), "needs a 'genotype' or 'genotype_repr'"),
        (json.dumps({"search_space": "darts", "genotype": {**V2_DICT["genotype"], "normal": [["none", 0]] * 8}}), "unknown op 'none'"),
        (json.dumps({"search_space": "darts", "genotype": V2_DICT["genotype"], "genotype_repr": V2_DICT["genotype_repr"].replace("max_pool", "avg_pool")}),
         "disagree"),
        ("hello world", "not a genotype file"),
    ],
)
def test_malformed_or_foreign_genotype_files_give_one_line_reasons(tmp_path, content, reason):
    path = tmp_path / "genotype.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(TenasError, match=reason) as err:
        read_genotype_file(path)
    assert "\n" not in str(err.value)


def test_cli_reports_a_bad_genotype_in_one_line(tmp_path):
    bad = write_json(tmp_path / "bad.json", {"search_space": "darts", "genotype_repr": "Genotype(normal=[])"})
    proc = subprocess.run([sys.executable, "-m", "tenas.train", f"genotype={bad}", "dataset=synthetic", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    error_lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "genotype" in error_lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "run" / "results.json").exists()
    with pytest.raises(TenasError, match="genotype=PATH is required"):
        run_training(compose_train([]), tmp_path / "missing")
