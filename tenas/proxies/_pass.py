"""Shared passes: one forward (and what is differentiated from it) of one network on one batch, read by
every proxy of a scoring request that asks for it.

A proxy registered with ``needs=`` (see :func:`tenas.proxies.register_proxy`) is a function of a
:class:`Pass` rather than of the model: it states what it reads, and the pass computes each thing once.

Needs (the names a proxy declares):

- ``"features"``: the stage features (:func:`tenas.proxies._az_nas.stage_features`'s rule; the
  ``feature_modules`` option of each proxy names other modules), recorded by forward hooks;
- ``"features_grad"``: the same features with the autograd graph kept between them, for
  vector-Jacobian products from one stage to another (AZ-NAS trainability);
- ``"flops"``: FLOPs per sample, counted by hooks on every ``Conv1d``/``Conv2d``/``Linear`` call
  AZ-NAS's convention: multiply-accumulates plus bias additions, unlike :func:`tenas.complexity.count_flops`);
- ``"loss_grads"``: the gradient of the mean cross-entropy of the logits against ``targets`` with
  respect to every ``Conv2d``/``Linear`` weight (NASLib's saliencies);
- ``"layer_grads"``: the outputs of every ``Conv2d``/``Linear`` call and the same loss's gradient
  there (Fisher), taken in the same backward as ``"loss_grads"``;
- ``"synflow"``: SynFlow's parameter gradients on the float64 ``|θ|`` copy of the network, from one
  all-ones sample of the batch's shape (no forward of the model itself).

The forward runs in train mode (BatchNorm with the batch's statistics), with gradients only when a
need differentiates, and unfused (every conv module called, see
:func:`tenas.proxies._naslib.unfused`) when a need hooks conv modules. A pass whose only forward need
is ``"flops"`` runs one sample in eval mode instead (the count does not depend on values or mode).
Backward quantities are computed on first request and kept, so a second proxy reading them costs
nothing. Everything happens inside :func:`tenas.state.untouched`: the model, its gradients and the
global RNG are left as found.
"""
from __future__ import annotations

import math
from contextlib import ExitStack, contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

from tenas.proxies._common import logits
from tenas.proxies._naslib import LAYER_TYPES, scored_layers, unfused
from tenas.state import untouched

NEEDS = ("features", "features_grad", "flops", "loss_grads", "layer_grads", "synflow")
_FORWARD = {"features", "features_grad", "flops", "loss_grads", "layer_grads"}
_GRAD = {"features_grad", "loss_grads", "layer_grads"}
_UNFUSED = {"flops", "layer_grads"}
_FLOP_TYPES = (nn.Conv1d, nn.Conv2d, nn.Linear)


def _key(names) -> tuple | None:
    return None if names is None else tuple(names)


class Pass:
    """What the proxies of one request read from one batch ``x`` (targets ``y``) through ``model``.

    Build it with :func:`shared_pass`. ``feature_sets``: the ``feature_modules`` options
    (``None`` = the default rule) whose stage features are recorded. ``generators``: a mapping
    seed -> ``torch.Generator`` shared by the passes of consecutive batches (so a proxy's random
    draws continue from one batch to the next); each pass has its own when not given.
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y=None, needs=(), feature_sets=(None,), generators=None):
        from tenas.proxies._az_nas import feature_modules

        unknown = set(needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"unknown pass needs {sorted(unknown)}; known: {list(NEEDS)}")
        self.model, self.x, self.y, self.needs = model, x, y, frozenset(needs)
        self._generators = {} if generators is None else generators
        self._features: dict[tuple | None, list[torch.Tensor]] = {}
        self._flops = 0.0
        self._layer_calls: list[tuple[nn.Module, torch.Tensor]] = []
        self._loss_grads = None
        self._synflow = None
        self._memo: dict = {}
        self.output = None
        if not self.needs & _FORWARD:
            return
        handles = []
        try:
            if self.needs & {"features", "features_grad"}:
                for names in dict.fromkeys(_key(n) for n in feature_sets):
                    handles += self._hook_features(feature_modules(model, names), names)
            if "flops" in self.needs:
                handles += [m.register_forward_hook(self._count_flops) for m in model.modules() if isinstance(m, _FLOP_TYPES)]
            if "layer_grads" in self.needs:
                handles += [m.register_forward_hook(self._keep_layer_output) for m in model.modules() if isinstance(m, LAYER_TYPES)]
            if self.needs & {"loss_grads", "layer_grads"}:
                for layer in scored_layers(model):
                    layer.weight.requires_grad_(True)
            only_flops = self.needs & _FORWARD == {"flops"}
            model.train(not only_flops)
            with torch.set_grad_enabled(bool(self.needs & _GRAD)):
                self.output = model(x[:1] if only_flops else x)
        finally:
            for h in handles:
                h.remove()

    # ------------------------------------------------------------------ forward hooks
    def _hook_features(self, chosen, names):
        fallback = chosen is None
        modules = list(self.model.children()) if fallback else chosen
        store = self._features.setdefault(names, [])
        from tenas.proxies._az_nas import _first_tensor

        def hook(_module, _inputs, output):
            out = _first_tensor(output)
            if out is None or not out.is_floating_point() or out.dim() < 2 or (fallback and out.dim() != 4):
                return
            store.append(out)

        return [m.register_forward_hook(hook) for m in dict.fromkeys(modules)]

    def _count_flops(self, m, _inputs, output):
        positions = output[0, 0].numel()
        if isinstance(m, nn.Linear):
            rows = output[0].numel() // m.out_features
            self._flops += rows * m.in_features * m.out_features + (rows * m.out_features if m.bias is not None else 0)
            return
        self._flops += positions * math.prod(m.kernel_size) * (m.in_channels // m.groups) * m.out_channels
        if m.bias is not None:
            self._flops += positions * m.out_channels

    def _keep_layer_output(self, module, _inputs, out):
        if isinstance(out, torch.Tensor) and out.requires_grad:
            self._layer_calls.append((module, out))

    # ------------------------------------------------------------------ what proxies read
    def stage_features(self, names: Sequence[str] | None = None) -> list[torch.Tensor]:
        """The stage features of ``names`` (``None``: the default rule), in firing order."""
        return self._features[_key(names)]

    def flops_per_sample(self) -> float:
        return float(self._flops)

    def memo(self, key, compute):
        """``compute()``, once per pass and ``key`` (a value several proxies derive from the same reading)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def generator(self, seed: int) -> torch.Generator:
        """The pass's CPU generator for ``seed`` (created on first request, then continued)."""
        seed = int(seed)
        if seed not in self._generators:
            self._generators[seed] = torch.Generator().manual_seed(seed)
        return self._generators[seed]

    def loss_grads(self):
        """``(layers, weight_grads, layer_calls, output_grads)``: every scored layer and ``∂L/∂W`` (``None``
        where a weight does not reach the loss), every kept ``(module, output)`` call and ``∂L/∂output``;
        one backward of the mean cross-entropy, taken once."""
        if self._loss_grads is None:
            layers = scored_layers(self.model)
            out = logits(self.output)
            loss = torch.nn.functional.cross_entropy(out, self.y.to(out.device))
            outputs = [o for _, o in self._layer_calls]
            if loss.requires_grad:
                grads = torch.autograd.grad(loss, [l.weight for l in layers] + outputs, retain_graph=True, allow_unused=True)
            else:  # no parameter reaches the loss
                grads = [None] * (len(layers) + len(outputs))
            self._loss_grads = (layers, list(grads[: len(layers)]), self._layer_calls, list(grads[len(layers):]))
        return self._loss_grads

    def synflow_grads(self):
        """``(layers, grads)`` of SynFlow on the ``|θ|`` float64 copy (see :mod:`tenas.proxies.synflow`), taken once."""
        if self._synflow is None:
            from tenas.proxies.synflow import linearised_copy

            net = linearised_copy(self.model)
            layers = scored_layers(net)
            first = next(net.parameters(), None)
            device = first.device if first is not None else torch.device("cpu")
            r = logits(net(torch.ones(1, *self.x.shape[1:], dtype=torch.float64, device=device))).sum()
            grads = torch.autograd.grad(r, [l.weight for l in layers], allow_unused=True) if r.requires_grad else [None] * len(layers)
            self._synflow = (layers, list(grads))
        return self._synflow


@contextmanager
def shared_pass(model: nn.Module, x: torch.Tensor, y=None, needs=(), feature_sets=(None,), generators=None) -> Iterator[Pass]:
    """A :class:`Pass` of ``model`` on ``x``, valid inside the block; the model and the global RNG restored after."""
    with ExitStack() as stack:
        stack.enter_context(untouched(model, train=None))
        if set(needs) & _UNFUSED:
            stack.enter_context(unfused(model))
        yield Pass(model, x, y, needs, feature_sets, generators)
