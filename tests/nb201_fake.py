"""A small NAS-Bench-201 benchmark file in the nas-bench-201 API's own format, built from the shared table."""
from __future__ import annotations

import pandas as pd
import torch

# dataset -> the eval set the API reads 'test-accuracy' from
_TEST_SET = {"cifar10": "ori-test", "cifar100": "x-test", "ImageNet16-120": "x-test"}
_COLUMN = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "ImageNet16-120": "imagenet16_120_test"}
_EPOCHS = {"less": 12, "full": 200}


def _results_count(dataset, seed, accuracy, epochs, arch_str):
    last = epochs - 1
    evals = {f"{name}@{last}": accuracy for name in ("ori-test", "x-test", "x-valid")}
    return {
        "name": dataset, "net_state_dict": None, "train_acc1es": {last: 99.0}, "train_acc5es": None,
        "train_losses": {last: 0.01}, "train_times": None, "arch_config": {"arch_str": arch_str, "channel": 16, "num_cells": 5, "class_num": 10},
        "params": 1.0, "flop": 100.0, "seed": seed, "epochs": epochs, "latency": None,
        "eval_names": ["ori-test", "x-test", "x-valid"], "eval_acc1es": evals,
        "eval_losses": {k: 0.5 for k in evals}, "eval_times": {},
    }


def write_fake_benchmark(csv_path, out_path, rows: int = 50) -> pd.DataFrame:
    """Write the first ``rows`` architectures of the table; each accuracy is stored as two seeds at ±0.2
    so that the API's mean over seeds gives back the table's value."""
    table = pd.read_csv(csv_path).head(rows)
    arch2infos = {}
    for i, row in table.iterrows():
        infos = {}
        for key, epochs in _EPOCHS.items():
            all_results, dataset_seed = {}, {}
            for ds, col in _COLUMN.items():
                dataset_seed[ds] = [777, 888]
                for seed, shift in ((777, -0.2), (888, 0.2)):
                    all_results[(ds, seed)] = _results_count(ds, seed, float(row[col]) + shift, epochs, row["arch_str"])
            infos[key] = {"arch_index": int(i), "arch_str": row["arch_str"], "all_results": all_results, "dataset_seed": dataset_seed, "clear_net_done": True}
        arch2infos[int(i)] = infos
    torch.save({"meta_archs": list(table["arch_str"]), "arch2infos": arch2infos, "evaluated_indexes": list(range(len(table)))}, out_path)
    return table
