"""Smoke runs of the two NTK study scripts with tiny settings."""
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lazy_training_synthetic(tmp_path, capsys):
    script = load_script("lazy_training")
    argv = ["--data", "synthetic", "--widths", "16", "64", "--seeds", "1", "--train-size", "16", "--probe-size", "8",
            "--steps", "6", "--checkpoints", "2", "--out", str(tmp_path)]
    assert script.main(argv) == 0
    frame = pd.read_csv(tmp_path / "lazy_training.csv")
    assert list(frame.columns) == ["width", "seed", "step", "train_mse", "ntk_change", "param_change"]
    assert sorted(frame.step.unique()) == [0, 3, 6] and sorted(frame.width.unique()) == [16, 64]
    assert (frame[frame.step == 0][["ntk_change", "param_change"]] == 0).all().all()
    assert (frame[frame.step == 6].param_change > 0).all()
    assert (tmp_path / "lazy_training.png").stat().st_size > 0
    assert json.loads((tmp_path / "config.json").read_text())["lr"] > 0
    assert "log-log slope vs width" in capsys.readouterr().out


def test_lazy_training_npz_file(tmp_path, fake_cifar10_npz):
    """--data-path with an npz in the shared CIFAR-10 sample's format (a small stand-in: no real data needed)."""
    script = load_script("lazy_training")
    argv = ["--data-path", str(fake_cifar10_npz), "--widths", "8", "32", "--seeds", "1", "--train-size", "12", "--probe-size", "4",
            "--steps", "2", "--checkpoints", "1", "--out", str(tmp_path)]
    assert script.main(argv) == 0
    assert len(pd.read_csv(tmp_path / "lazy_training.csv")) == 4


def test_lazy_training_reports_missing_data(tmp_path, capsys):
    script = load_script("lazy_training")
    assert script.main(["--data-path", str(tmp_path / "absent.npz"), "--out", str(tmp_path)]) == 2
    assert "--data synthetic" in capsys.readouterr().err


def test_kappa_vs_trainability(tmp_path, fake_cifar10_npz, capsys):
    script = load_script("kappa_vs_trainability")
    argv = ["--data-path", str(fake_cifar10_npz), "--archs", "4", "--C", "2", "--image-size", "8", "--ntk-batch", "8",
            "--steps", "2", "--batch-size", "8", "--train-size", "32", "--eval-size", "16", "--out", str(tmp_path)]
    assert script.main(argv) == 0
    frame = pd.read_csv(tmp_path / "kappa_vs_trainability.csv")
    assert len(frame) == 4 and frame.arch.nunique() == 4
    assert (frame.kappa >= 1).all() and frame.final_loss.notna().all()
    stats = json.loads((tmp_path / "correlations.json").read_text())
    assert stats["loss_all"]["n"] == 4
    assert (tmp_path / "kappa_vs_trainability.png").stat().st_size > 0
    assert "Kendall" in capsys.readouterr().out


def test_kappa_vs_trainability_is_deterministic_in_its_sample():
    script = load_script("kappa_vs_trainability")
    assert script.sample_archs(5, seed=3) == script.sample_archs(5, seed=3)
    assert script.sample_archs(5, seed=3) != script.sample_archs(5, seed=4)


@pytest.mark.parametrize("argv", [["--image-size", "12"], ["--eval-size", "5000"], ["--lr", "0"]])
def test_kappa_vs_trainability_rejects_bad_options(argv):
    script = load_script("kappa_vs_trainability")
    with pytest.raises(SystemExit):
        script.parse_args(argv)
