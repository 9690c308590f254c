"""Training-free proxies as plugins: ``(model, inputs, **options) -> float`` behind one registry.

A proxy is either a function of the model and its inputs, running its own passes, or (registered
with ``needs=``) a function of a shared :class:`tenas.proxies._pass.Pass`: it states what it reads
(stage features, FLOPs, loss gradients, SynFlow gradients) and :func:`score` runs one forward (and
what is differentiated from it) per network and batch for every such proxy of one request. Called
alone, such a proxy builds its own pass; the score is the same either way.

A proxy is one module ``tenas/proxies/<name>.py`` that registers its scoring
function with :func:`register_proxy`, plus its protocol in ``conf/proxy/<name>.yaml``
(the network it scores, the inputs it draws per repeat, the initialisation and its
keyword options; see :func:`proxy_settings`). The search, the correlation study and
the Python API read both from here; nothing else names a proxy.

Every proxy is pure: the model's mode, parameters, gradients, buffers and hooks, and
the global RNG, are left as found. A non-finite score comes back as NaN (with a
warning), which the search and the study treat as a missing value.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict

from tenas.paths import CONF_DIR as PACKAGE_CONF
from tenas.proxies._registry import PROXIES, Proxy, get_proxy, list_proxies, register_proxy

CONF_DIR = PACKAGE_CONF / "proxy"

#: What a proxy scores and draws when its config file leaves a key out (see ``conf/proxy/ntk.yaml``
#: for the meaning of each key).
BASE_SETTINGS = {
    "network": {"C": None, "N": None, "stem": True},
    "init": "kaiming",
    "inputs": {"kind": "images", "batch_size": 32, "num_batches": 1, "crop_size": None},
    "options": {},
}


def _load_builtin() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


def score(model, inputs, proxies, targets=None, options=None) -> dict[str, float]:
    """``{name: score}`` of every proxy in ``proxies`` on ``model`` and ``inputs`` (a batch or a list of
    batches; ``targets`` alike, for the proxies that need them), ``options[name]`` their keyword options.

    The shared-pass proxies among them (registered with ``needs=``) read one :class:`~tenas.proxies._pass.Pass`
    per batch: one forward, at most one backward of the loss and one vector-Jacobian product per stage
    pair, however many of them ask; the others run alone. The scores equal those of each proxy called
    alone on the same model and inputs (up to float rounding). Non-finite scores are NaN, with a warning.
    """
    options = options or {}
    chosen = [get_proxy(name) for name in dict.fromkeys(proxies)]
    missing = [p.name for p in chosen if p.needs_targets and targets is None]
    if missing:
        raise ValueError(f"proxies {missing} need targets=")
    out = {p.name: p(model, inputs, **(dict(options.get(p.name) or {}, targets=targets) if p.needs_targets else dict(options.get(p.name) or {})))
           for p in chosen if not p.needs}
    shared = [p for p in chosen if p.needs]
    if shared:
        from tenas.proxies._naslib import one_batch

        several = isinstance(inputs, (list, tuple)) and len(inputs) > 1
        per_batch = [p for p in shared if several and p.batches == "mean"]
        whole = [p for p in shared if p not in per_batch]
        if whole:
            x, y = one_batch(inputs, targets)
            out.update(_score_pass(model, x, y, whole, options, None))
        if per_batch:
            generators: dict = {}  # one generator per seed, continued across the batches
            ys = list(targets) if isinstance(targets, (list, tuple)) else [targets] * len(inputs)
            values = defaultdict(list)
            for x, y in zip(inputs, ys):
                for name, value in _score_pass(model, x, y, per_batch, options, generators).items():
                    values[name].append(value)
            out.update({name: float(sum(v) / len(v)) for name, v in values.items()})
    return {p.name: p._finite(out[p.name]) if p.needs else out[p.name] for p in chosen}


def _score_pass(model, x, y, proxies, options, generators) -> dict[str, float]:
    from tenas.proxies._pass import shared_pass

    needs = frozenset().union(*(p.needs for p in proxies))
    feature_sets = [(options.get(p.name) or {}).get("feature_modules") for p in proxies if p.needs & {"features", "features_grad"}]
    with shared_pass(model, x, y, needs, feature_sets or [None], generators) as ps:
        return {p.name: float(p.fn(ps, **(options.get(p.name) or {}))) for p in proxies}


def proxy_settings(name: str, overrides=None) -> dict:
    """The protocol of proxy ``name``: :data:`BASE_SETTINGS`, then ``conf/proxy/<name>.yaml``
    (when there is one), then ``overrides`` (a run's ``proxy.<name>`` section), merged key by key."""
    from omegaconf import OmegaConf

    get_proxy(name)
    layers = [OmegaConf.create(BASE_SETTINGS)]
    path = CONF_DIR / f"{name}.yaml"
    if path.is_file():
        layers.append(OmegaConf.load(path))
    if overrides:
        layers.append(OmegaConf.create(overrides) if not OmegaConf.is_config(overrides) else overrides)
    return OmegaConf.to_container(OmegaConf.merge(*layers), resolve=True)


_load_builtin()

from tenas.proxies.linear_regions import count_linear_regions  # noqa: E402  (re-exported)

__all__ = ["Proxy", "PROXIES", "register_proxy", "get_proxy", "list_proxies", "proxy_settings", "score", "count_linear_regions"]
