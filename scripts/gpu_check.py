"""One run on a CUDA device: the searches tenas recommends, seconds per architecture, the whole-space projection.

    python scripts/gpu_check.py [--device cuda] [--minutes 8] [--out results/gpu] [--archs 100]

In at most ``--minutes`` wall minutes (each step gets what is left and is stopped when it runs out):

1. the default search (``python -m tenas.search``: prune x te_nas) and every ``+experiment=<preset>``
   of ``tenas/conf/experiment/``, seed 0, on the shared CIFAR-10 sample, each timed;
2. ``python -m tenas.evaluate`` with ``ranking=az_nas`` and ``ranking=ensemble`` over ``--archs``
   architectures: seconds per architecture, end to end (network built, initialised, inputs drawn, scored);
3. from those, the projected wall time of a whole-space table (15,625 architectures) per dataset.

Writes ``gpu_check.md`` (a Markdown table the README can take as it is) and every run's folder into
``--out``, and prints the table. Refuses to start, with one line and nothing written, without a CUDA
device. CI never runs it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
NB201_SIZE = 15625


def steps(args) -> list[tuple[str, list[str], str]]:
    """(label, command, run folder) of every step, in order."""
    data = [f"device={args.device}", "dataset=npz", f"dataset.path={args.data}", f"benchmark.path={args.benchmark}", "seed=0"]
    out = []
    presets = ["(default)"] + sorted(p.stem for p in (REPO / "tenas" / "conf" / "experiment").glob("*.yaml"))
    for preset in presets:
        folder = args.out / f"search-{preset.strip('()')}"
        extra = [] if preset == "(default)" else [f"+experiment={preset}"]
        out.append((f"search {preset}", [sys.executable, "-m", "tenas.search", *extra, *data, f"hydra.run.dir={folder}"], str(folder)))
    for ranking in ("az_nas", "ensemble"):
        folder = args.out / f"study-{ranking}"
        proxies = ",".join(yaml.safe_load((REPO / "tenas" / "conf" / "ranking" / f"{ranking}.yaml").read_text())["proxies"])
        out.append((f"study ranking={ranking}", [sys.executable, "-m", "tenas.evaluate", f"ranking={ranking}", f"study.proxies=[{proxies}]",
                                                f"study.num_archs={args.archs}", *data, f"hydra.run.dir={folder}"], str(folder)))
    return out


def outcome(label: str, folder: Path) -> str:
    """What a finished step found: the test accuracy of a search, the seconds per architecture of a study."""
    if label.startswith("search"):
        result = json.loads((folder / "genotype.json").read_text())
        return f"CIFAR-10 test {result['test_accuracy']:.2f}"
    result = json.loads((folder / "correlations.json").read_text())
    per_arch = result["seconds_per_arch"]
    return f"{per_arch * 1000:.0f} ms/arch; whole space ≈ {per_arch * NB201_SIZE / 60:.1f} min per dataset"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--archs", type=int, default=100)
    ap.add_argument("--out", type=Path, default=REPO / "results" / "gpu")
    ap.add_argument("--data", type=Path, default=SHARED / "cifar10" / "cifar10_train_first4000.npz")
    ap.add_argument("--benchmark", type=Path, default=SHARED / "nb201" / "nb201_hp200_test_acc.csv")
    args = ap.parse_args(argv)
    args.out, args.data, args.benchmark = args.out.resolve(), args.data.resolve(), args.benchmark.resolve()
    import torch

    problem = None
    if not args.device.startswith("cuda") or not torch.cuda.is_available():
        problem = f"--device {args.device}: no CUDA device here (torch.cuda.is_available() is {torch.cuda.is_available()}); this script measures a GPU"
    elif args.minutes <= 0 or args.archs < 2:
        problem = f"--minutes {args.minutes} / --archs {args.archs}; allowed: more than 0 minutes, at least 2 architectures"
    else:
        problem = next((f"{p}: no such file" for p in (args.data, args.benchmark) if not p.is_file()), None)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 60 * args.minutes
    rows = [f"Measured by `python scripts/gpu_check.py` on {torch.cuda.get_device_name(0)} ({time.strftime('%Y-%m-%d')}), "
            f"torch {torch.__version__}, seed 0, the shared CIFAR-10 sample.", "", "| step | wall s | result |", "| --- | --- | --- |"]
    for label, command, folder in steps(args):
        left = deadline - time.monotonic()
        if left <= 1:
            rows.append(f"| {label} | — | not run: the {args.minutes:g}-minute budget was spent |")
            continue
        t0 = time.monotonic()
        try:
            done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=left)
            wall = time.monotonic() - t0
            result = outcome(label, Path(folder)) if done.returncode == 0 else f"failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
        except subprocess.TimeoutExpired:
            wall, result = time.monotonic() - t0, "stopped: the budget ran out"
        rows.append(f"| {label} | {wall:.1f} | {result} |")
        print(rows[-1], flush=True)
    text = "\n".join(rows) + "\n"
    (args.out / "gpu_check.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
