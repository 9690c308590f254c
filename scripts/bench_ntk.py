"""Time ``tenas.ntk_condition_number`` against a per-sample backward loop computing the same kernel.

The network is the NAS-Bench-201 scoring supernet (C=3, N=1, all five ops alive on
every edge, Kaiming-normal weights, train-mode BatchNorm) on one batch of CIFAR-10
training images (the shared sample when present, else random images). The loop is
the reference implementation's: one forward, then per sample
``logit[i].sum().backward(retain_graph=True)``, the ``.grad`` of every ``*weight*``
parameter read into row i, ``zero_grad``; then ``Θ = J Jᵀ`` and κ from its eigenvalues.
Both run alternately in one process, ``--repeats`` times after a warm-up; the best
and median wall times are reported. Second line: the same loop on the unfused
supernet layout (the previous ``NB201Network``, same weights, same κ), i.e. the
speed-up over the whole previous pipeline.

    python scripts/bench_ntk.py [--batch 32] [--repeats 5] [--threads 1] [--device cpu] [--space nasbench201|darts]

``--space darts`` times the DARTS scoring supernet (C=1, one normal and one reduction
cell, every op alive) instead, with the DARTS search's chunk size (32).

``--memory`` instead measures peak memory against ``chunk_size`` on two larger cases
(the benchmark's C=16, N=5 network of the best cell at batch 32, and the scoring
supernet at batch 128), one fresh subprocess per setting: peak resident memory above
that of the built network and batch (CPU; peak allocated memory on CUDA), and κ.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from search_spaces import get_space
from search_spaces.nasbench201 import NB201Network
from tenas import ntk_condition_number
from tenas.init import kaiming_init_
from tenas.ntk import condition_number

SHARED_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10" / "cifar10_train_first4000.npz"


def per_sample_loop_kappa(model: torch.nn.Module, inputs: torch.Tensor) -> float:
    """κ as the reference computes it: one backward per sample, gradients read from ``.grad``."""
    model.train()
    model.zero_grad(set_to_none=True)
    logits = model(inputs)
    weights = [p for n, p in model.named_parameters() if "weight" in n]
    rows = []
    for i in range(inputs.shape[0]):
        logits[i : i + 1].backward(torch.ones_like(logits[i : i + 1]), retain_graph=True)
        rows.append(torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in weights]))
        model.zero_grad(set_to_none=True)
    J = torch.stack(rows)
    return condition_number(J @ J.T)


def batch(n: int, device) -> tuple[torch.Tensor, str]:
    if SHARED_SAMPLE.is_file():
        from tenas.data import load_npz

        return load_npz(SHARED_SAMPLE).sample(n, torch.Generator().manual_seed(0)).to(device), "CIFAR-10 (shared sample)"
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device), "random images (shared sample absent)"


def timed(fn) -> tuple[float, float]:
    """(wall seconds, value) of one call, synchronising CUDA around it."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    value = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, value


BEST_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
MEMORY_CASES = {"C=16 N=5 network, batch 32": ("network", 32), "scoring supernet, batch 128": ("supernet", 128)}


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10


def memory_probe(case: str, batch: int, chunk: str, device: torch.device) -> None:
    """One measurement (run in a fresh subprocess): prints 'peak_mb kappa'."""
    if case == "network":
        from search_spaces.nasbench201 import network_for_arch

        net = network_for_arch(BEST_CELL, C=16, N=5).to(device)
    else:
        net = get_space("nasbench201").build_supernet(num_classes=10).to(device)
    kaiming_init_(net, torch.Generator().manual_seed(0))
    x = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    base = peak_memory_mb(device)
    kappa = ntk_condition_number(net, x, chunk_size=None if chunk == "all" else int(chunk))
    print(peak_memory_mb(device) - base, kappa)


def memory_table(args) -> None:
    for label, (case, batch) in MEMORY_CASES.items():
        cells = []
        for chunk in ("1", "8", "32", "all"):
            probe = [sys.executable, __file__, "--probe", case, str(batch), chunk, "--device", args.device, "--threads", str(args.threads)]
            # large blocks go to mmap so that freed memory leaves the resident set
            out = subprocess.run(probe, capture_output=True, text=True, check=True, env={"MALLOC_MMAP_THRESHOLD_": "65536", **os.environ})
            peak, kappa = map(float, out.stdout.split())
            cells.append(f"chunk {chunk}: {peak:.0f} MB (kappa {kappa:.6g})")
        print(f"bench_ntk memory, {label}, {args.device}: " + "; ".join(cells))


def scoring_networks(space_name: str):
    """(fused scoring supernet, the same function in the unfused layout, the search's NTK chunk size, label)."""
    space = get_space(space_name)
    supernet = space.build_supernet(num_classes=10)
    kaiming_init_(supernet, torch.Generator().manual_seed(0))
    if space_name == "darts":
        from search_spaces.darts import DartsNetwork

        previous = DartsNetwork(space.C, 10, space.cells, stem_multiplier=space.stem_multiplier, final_bn_relu=True)  # unfused cells
        chunk, label = 32, "DARTS supernet C=1, normal + reduction cell"
    else:
        previous = NB201Network(C=3, N=1, num_classes=10)
        chunk, label = 8, "NB201 supernet C=3 N=1"
    previous.load_state_dict(supernet.state_dict())
    return supernet, previous, chunk, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, as the search; 0 = torch's own)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--space", choices=["nasbench201", "darts"], default="nasbench201",
                        help="the scoring supernet to time (DARTS: C=1, a normal and a reduction cell, chunk size 32 as the search)")
    parser.add_argument("--memory", action="store_true", help="peak memory against chunk_size instead of timing")
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.probe:
        case, size, chunk = args.probe
        return memory_probe(case, int(size), chunk, device)
    if args.memory:
        return memory_table(args)

    supernet, previous, chunk, label = scoring_networks(args.space)
    supernet, previous = supernet.to(device), previous.to(device)
    x, source = batch(args.batch, device)

    methods = {
        "tenas": lambda: ntk_condition_number(supernet, x, chunk_size=chunk),
        "loop": lambda: per_sample_loop_kappa(supernet, x),
        "loop_unfused": lambda: per_sample_loop_kappa(previous, x),
    }
    for fn in methods.values():  # warm-up (allocator, oneDNN primitive caches)
        fn()
    times = {name: [] for name in methods}
    kappas = {}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            seconds, kappas[name] = timed(fn)
            times[name].append(seconds)
    best = {name: min(t) for name, t in times.items()}
    median = {name: statistics.median(t) for name, t in times.items()}

    def rel(a, b):
        return abs(kappas[a] - kappas[b]) / abs(kappas[b])

    setting = f"{label}, all ops alive, batch {args.batch} of {source}, {device}, {torch.get_num_threads()} thread(s), best of {args.repeats}"
    print(
        f"bench_ntk: per-sample loop {best['loop']:.3f}s (median {median['loop']:.3f}s), tenas.ntk_condition_number {best['tenas']:.3f}s "
        f"(median {median['tenas']:.3f}s), speed-up {best['loop'] / best['tenas']:.2f}x; "
        f"kappa loop {kappas['loop']:.6g}, tenas {kappas['tenas']:.6g} (rel. err {rel('tenas', 'loop'):.1e}) [{setting}]"
    )
    print(
        f"bench_ntk: per-sample loop on the unfused supernet layout {best['loop_unfused']:.3f}s (median {median['loop_unfused']:.3f}s), "
        f"speed-up of tenas over it {best['loop_unfused'] / best['tenas']:.2f}x; kappa {kappas['loop_unfused']:.6g} (rel. err {rel('tenas', 'loop_unfused'):.1e})"
    )


if __name__ == "__main__":
    main()
