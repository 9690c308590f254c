"""scripts/gpu_check.py: refuses without a CUDA device; its steps are the commands the README gives."""
import sys

import pytest
import torch

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import gpu_check  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device: the script would measure it")
def test_without_cuda_it_refuses_in_one_line_and_writes_nothing(tmp_path, capsys):
    assert gpu_check.main(["--out", str(tmp_path / "gpu")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --device cuda: no CUDA device") and not (tmp_path / "gpu").exists()


def test_every_experiment_preset_and_both_rankings_are_steps(tmp_path):
    args = gpu_check.argparse.Namespace(device="cuda", out=tmp_path, data=tmp_path / "d.npz", benchmark=tmp_path / "b.csv", archs=10)
    labels = [label for label, _, _ in gpu_check.steps(args)]
    presets = sorted(p.stem for p in (REPO / "tenas" / "conf" / "experiment").glob("*.yaml"))
    assert labels == ["search (default)", *(f"search {p}" for p in presets), "study ranking=az_nas", "study ranking=ensemble"]
