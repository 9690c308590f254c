"""``python -m tenas.train genotype=PATH``: retrain a searched architecture with its space's recipe (``conf/train.yaml``).

The run directory (:class:`tenas.run_folder.RunFolder`) receives ``config.yaml`` (resolved), ``training.json``
(the identity: genotype, recipe, dataset, seed), ``state.pt`` (model, optimiser and RNG states; a rerun in the
same directory continues from it, one of other settings is refused),
``train_log.csv`` (one row per step) and ``results.json`` (params, FLOPs, final
test accuracy). All files are written atomically.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from tenas.complexity import count_flops, count_parameters
from tenas.cli import main_or_exit, resolve_device, run_or_exit
from tenas.errors import TenasError
from tenas.export import read_genotype_file, resolve_recipe
from tenas.io import atomic_write_csv, atomic_write_json
from tenas.run_folder import RunFolder
from tenas.data.settings import check_dataset
from tenas.schema import COMMON, Setting, check_device, check_known_keys, check_names, check_strategy, check_table, lookup

log = logging.getLogger("tenas.train")

TRAIN = COMMON + (
    Setting("genotype", "path", hint="genotype=PATH is required: a search's genotype.json (or a file holding a DARTS Genotype(...) or NB201 string)"),
    Setting("recipe", "str"),
    Setting("resume", "bool"),
    Setting("dataset.name", "str"),
    Setting("trainer.epochs", "int", 1, null=True),
    Setting("trainer.batch_size", "int", 1, null=True),
    Setting("trainer.lr", "number", 0, open_low=True, null=True),
    Setting("trainer.weight_decay", "number", 0, null=True),
    Setting("trainer.cutout", "int", 0, null=True),
    Setting("trainer.drop_path", "number", 0, 1, open_high=True, null=True),
    Setting("trainer.auxiliary_weight", "number", 0, null=True),
    Setting("trainer.max_steps", "int", 1, null=True),
    Setting("trainer.checkpoint_every", "int", 1),
    Setting("trainer.eval_batch_size", "int", 1),
    Setting("trainer.progress", "bool"),
)

RECIPE = (
    Setting("epochs", "int", 1),
    Setting("batch_size", "int", 1),
    Setting("lr", "number", 0, open_low=True),
    Setting("momentum", "number", 0, 1, open_high=True),
    Setting("nesterov", "bool"),
    Setting("weight_decay", "number", 0),
    Setting("grad_clip", "number", 0, open_low=True, null=True),
    Setting("cutout", "int", 0),
    Setting("drop_path", "number", 0, 1, open_high=True),
    Setting("auxiliary_weight", "number", 0),
    Setting("label_smoothing", "number", 0, 1, open_high=True),
    Setting("network.C", "int", 1),
    Setting("network.N", "int", 1, required=False),
    Setting("network.layers", "int", 1, required=False),
    Setting("network.imagenet", "bool", required=False),
)


@dataclass
class PreparedTraining:
    """A training run's objects, built from its config by :func:`prepare_training` (building them is checking them)."""

    arch: Any  # tenas.export.Architecture
    recipe: dict
    train_data: Any
    test_data: Any  # None: an .npz without test_path


def prepare_training(cfg: DictConfig) -> PreparedTraining:
    """Everything ``tenas.train`` reads, checked by building what it trains with (the genotype read, its recipe
    resolved, the datasets built), before it trains or writes anything."""
    check_table(cfg, TRAIN)
    check_known_keys(cfg, "trainer", "train")
    check_device(cfg)
    check_strategy(cfg)
    recipes = lookup(cfg, "recipes")
    if not isinstance(recipes, dict) or not recipes:
        raise TenasError("recipes: must be a mapping of named training recipes (see conf/train.yaml)")
    for name in recipes:
        check_table(cfg, RECIPE, prefix=f"recipes.{name}.")
    recipe_name = lookup(cfg, "recipe")
    if recipe_name != "auto":
        check_names("recipe", recipe_name, list(recipes) + ["auto"], "recipe")
    try:
        arch = read_genotype_file(lookup(cfg, "genotype"))
    except TenasError as err:
        raise TenasError(f"genotype: {err}") from None
    try:
        recipe = resolve_recipe(cfg, arch)
    except TenasError as err:
        raise TenasError(f"recipe: {err}") from None
    train_data = check_dataset(cfg, "train")
    test_data = check_dataset(cfg, "test") if cfg.dataset.name != "npz" or cfg.dataset.get("test_path") else None
    return PreparedTraining(arch, recipe, train_data, test_data)


def cutout(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a ``length`` x ``length`` square (clipped at the border) centred on a random pixel of each image."""
    n, _, h, w = x.shape
    cy = torch.randint(0, h, (n, 1, 1), generator=generator)
    cx = torch.randint(0, w, (n, 1, 1), generator=generator)
    rows, cols = torch.arange(h).view(1, h, 1), torch.arange(w).view(1, 1, w)
    inside = (rows >= cy - length // 2) & (rows < cy + length // 2) & (cols >= cx - length // 2) & (cols < cx + length // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def cosine_lr(base: float, epoch: float, epochs: int) -> float:
    """Cosine annealing from ``base`` to 0 over ``epochs``, at a fractional ``epoch``."""
    return 0.5 * base * (1.0 + math.cos(math.pi * min(epoch, epochs) / epochs))


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The sample order of one epoch: a function of (seed, epoch) only, so a resumed run sees the same batches."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


@torch.no_grad()
def evaluate(model: torch.nn.Module, data, batch_size: int, device) -> tuple[float, float]:
    """(accuracy in %, mean cross-entropy) over every image of ``data``, eval mode."""
    model.eval()
    correct, loss, generator = 0, 0.0, torch.Generator()
    for idx in torch.arange(len(data)).split(batch_size):
        x, y = data.take(idx, generator, with_labels=True)
        logits = model(x.to(device))
        loss += float(torch.nn.functional.cross_entropy(logits, y.to(device), reduction="sum"))
        correct += int((logits.argmax(1).cpu() == y).sum())
    return 100.0 * correct / len(data), loss / len(data)


def train_step(model, optimizer, criterion, x, y, recipe: dict) -> tuple[float, float]:
    """One SGD step (plus the auxiliary loss and gradient clipping the recipe asks for); returns (loss, batch accuracy in %)."""
    model.train()
    logits, aux = model.forward_with_aux(x) if hasattr(model, "forward_with_aux") else (model(x), None)
    loss = criterion(logits, y)
    if aux is not None:
        loss = loss + recipe["auxiliary_weight"] * criterion(aux, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if recipe["grad_clip"]:
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["grad_clip"])
    optimizer.step()
    return loss.item(), 100.0 * (logits.argmax(1) == y).float().mean().item()


def _rng_states(augment: torch.Generator) -> dict:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return {"augment_rng": augment.get_state(), "torch_rng": torch.get_rng_state(), "cuda_rng": cuda}


def _restore_rng_states(state: dict, augment: torch.Generator) -> None:
    augment.set_state(state["augment_rng"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])


def run_training(cfg: DictConfig, out_dir: Path) -> dict:
    """Train the genotype of ``cfg.genotype`` and write the run's outputs into ``out_dir``; returns results.json."""
    if OmegaConf.is_missing(cfg, "genotype"):
        raise TenasError("genotype=PATH is required: a search's genotype.json (or a file holding a DARTS Genotype(...) or NB201 string)")
    run = prepare_training(cfg)  # every setting, file and name, before any work or output
    arch, recipe, train_data, test_data = run.arch, run.recipe, run.train_data, run.test_data
    folder = RunFolder(out_dir, "training")
    identity = {"genotype": arch.text(), "recipe": recipe, "dataset": OmegaConf.to_container(cfg.dataset, resolve=True), "seed": int(cfg.seed)}
    if not cfg.resume:
        folder.start_over()
    folder.claim(identity, OmegaConf.to_yaml(cfg, resolve=True))  # a folder of another training refused
    out_dir = folder.path
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    device = resolve_device(str(cfg.device))
    model = arch.space.network(arch.genotype, train_data.num_classes, auxiliary=recipe["auxiliary_weight"] > 0, **recipe["network"]).to(device)
    params, flops = count_parameters(model), count_flops(model, train_data.image_shape, device)
    log.info("%s: %.3fM parameters, %.1fM FLOPs (multiply-adds) at %s; recipe %s", arch.text(), params / 1e6, flops / 1e6, train_data.image_shape, recipe["name"])

    batch_size = int(recipe["batch_size"])
    steps_per_epoch = max(1, len(train_data) // batch_size)
    total = int(recipe["epochs"]) * steps_per_epoch
    stop = min(total, int(cfg.trainer.max_steps)) if cfg.trainer.max_steps is not None else total
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"], nesterov=recipe["nesterov"], weight_decay=recipe["weight_decay"])
    augment = torch.Generator().manual_seed(int(cfg.seed))
    step, rows = 0, []
    state = folder.load_state()
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _restore_rng_states(state, augment)
        step, rows = state["step"], state["log"]
        log.info("resumed from %s at step %d", folder.path, step)

    criterion = torch.nn.CrossEntropyLoss(label_smoothing=recipe["label_smoothing"])
    order, order_epoch = None, -1
    bar = tqdm(total=stop, initial=step, desc="train", disable=not cfg.trainer.progress, dynamic_ncols=True)
    while step < stop:
        epoch, b = divmod(step, steps_per_epoch)
        if epoch != order_epoch:
            order, order_epoch = epoch_order(int(cfg.seed), epoch, len(train_data)), epoch
        x, y = train_data.take(order[b * batch_size:(b + 1) * batch_size], augment, with_labels=True)
        if recipe["cutout"] > 0:
            x = cutout(x, int(recipe["cutout"]), augment)
        lr = cosine_lr(recipe["lr"], step / steps_per_epoch, int(recipe["epochs"]))
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.drop_path_prob = recipe["drop_path"] * epoch / int(recipe["epochs"])
        loss, accuracy = train_step(model, optimizer, criterion, x.to(device), y.to(device), recipe)
        step += 1
        rows.append({"step": step, "epoch": epoch, "lr": lr, "loss": loss, "accuracy": accuracy})
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.4f}")
        if step % int(cfg.trainer.checkpoint_every) == 0 or step % steps_per_epoch == 0 or step == stop:
            folder.save_state({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "log": rows, **_rng_states(augment)})
            atomic_write_csv(out_dir / "train_log.csv", pd.DataFrame.from_records(rows))
    bar.close()

    test_accuracy, test_loss = evaluate(model, test_data, int(cfg.trainer.eval_batch_size), device) if test_data is not None else (None, None)
    recent = rows[-min(len(rows), steps_per_epoch):]
    result = {
        "search_space": arch.search_space,
        "genotype": arch.text(),
        "recipe": recipe,
        "dataset": cfg.dataset.name,
        "params_M": round(params / 1e6, 4),
        "flops_M": round(flops / 1e6, 2),
        "steps": step,
        "total_steps": total,
        "epochs": round(step / steps_per_epoch, 3),
        "train_loss": sum(r["loss"] for r in recent) / len(recent) if recent else None,
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "test_images": len(test_data) if test_data is not None else 0,
        "wall_time_s": round(time.perf_counter() - t0, 2),
        "device": str(device),
    }
    atomic_write_json(out_dir / "results.json", result)
    return result


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    result, out_dir = run_or_exit(run_training, cfg)
    print(f"{result['genotype']}\n  {result['params_M']:.3f}M params, {result['flops_M']:.1f}M FLOPs, {result['steps']}/{result['total_steps']} steps")
    if result["test_accuracy"] is not None:
        print(f"  test accuracy: {result['test_accuracy']:.2f}% on {result['test_images']} images")
    print(f"outputs: {out_dir}")
    return result["test_accuracy"]


if __name__ == "__main__":
    main_or_exit(main, "train")
