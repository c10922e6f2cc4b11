"""Training tasks: data, a model architecture and a loss, for ``lrkit compare`` and ``find-lr``.

A :class:`Task` bundles

* ``data(seed)`` -> ``(X_train, y_train, X_val, y_val)`` torch tensors, a
  deterministic split for a given ``seed`` (cached);
* ``build(seed)`` -> a plain ``nn.Module`` for one run, initialised from ``seed``;
* ``batched(seeds)`` -> a :class:`BatchedModel`: R such modules stacked into one
  (``torch.func.stack_module_state``) and evaluated with
  ``torch.func.vmap(functional_call)``, so that R runs train as one model;
* ``loss`` (``"cross_entropy"`` with integer labels ``y`` of shape ``[N]``, or
  ``"mse"`` with float targets of shape ``[N, k]``) and ``metric``
  (``"accuracy"`` or ``None``).

Built in (:func:`get_task`): ``digits-mlp`` and ``digits-cnn`` (scikit-learn's
bundled 8x8 digits, standardised with the training split's statistics, 80/20
split, no download), ``teacher-student`` (regression on a fixed random teacher
network with label noise) and ``noisy-quadratic`` (linear regression whose
loss is a quadratic with curvatures ``h_i = 1/i`` and minibatch noise).

User data: :func:`from_file` (``.csv``, ``.npz``, ``.parquet``) and
:func:`from_factory` (``"package.module:factory"``). Every user error raises
``ValueError`` with a one-line message.

This module imports torch; ``import lrkit.experiment`` does not.
"""

from __future__ import annotations

import copy
import csv
import difflib
import importlib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ..errors import InputError

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

LOSSES = ("cross_entropy", "mse")
METRICS = ("accuracy", None)


# -- the batched model ---------------------------------------------------------


class BatchedModel:
    """R copies of one architecture, each with its own parameters, run as one model.

    ``params`` maps each parameter name of the base module to a tensor of
    shape ``[R, *shape]`` (leaf tensors requiring grad); ``forward(x)`` takes
    ``x`` of shape ``[R, B, ...]`` (one batch per run), or ``[B, ...]`` with
    ``shared=True`` (the same batch for every run), and returns ``[R, B, ...]``.
    Run ``r`` computes exactly what ``build(seeds[r])`` computes on its batch.
    """

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        if not modules:
            raise InputError("BatchedModel: need at least one module")
        params, buffers = stack_module_state(list(modules))
        self.params: dict[str, torch.Tensor] = {
            k: v.detach().clone().requires_grad_(True) for k, v in params.items()
        }
        self.buffers: dict[str, torch.Tensor] = {k: v.detach().clone() for k, v in buffers.items()}
        self.base = copy.deepcopy(modules[0]).to("meta")
        self.size = len(modules)

        def one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> Any:
            return functional_call(self.base, (p, b), (x,))

        self._per_run = vmap(one, in_dims=(0, 0, 0), randomness="different")
        self._shared = vmap(one, in_dims=(0, 0, None), randomness="different")
        self._mlp = _mlp_layers(self.base)

    def train(self, mode: bool = True) -> BatchedModel:
        self.base.train(mode)
        return self

    def forward(
        self,
        x: torch.Tensor,
        params: dict[str, torch.Tensor] | None = None,
        *,
        shared: bool = False,
    ) -> torch.Tensor:
        p = self.params if params is None else params
        if self._mlp is not None:
            return _batched_mlp(self._mlp, p, x.expand(self.size, *x.shape) if shared else x)
        out: torch.Tensor = (self._shared if shared else self._per_run)(p, self.buffers, x)
        return out

    __call__ = forward


def _mlp_layers(module: nn.Module) -> list[tuple[str, bool]] | None:
    """For an ``nn.Sequential`` of ``Linear`` and ``ReLU`` layers: ``(name, is_linear)`` per
    layer; else None. Such a model is batched with ``baddbmm`` directly: the same numbers as
    ``vmap(functional_call)``, at about half the cost on CPU (vmap's linear batching rule
    pays for a transposed copy and a separate bias add)."""
    if not isinstance(module, nn.Sequential):
        return None
    layers = []
    for name, m in module.named_children():
        if isinstance(m, nn.Linear) and m.bias is not None:
            layers.append((name, True))
        elif type(m) is nn.ReLU:
            layers.append((name, False))
        else:
            return None
    return layers


def _batched_mlp(layers: list[tuple[str, bool]], p: dict[str, torch.Tensor],
                 x: torch.Tensor) -> torch.Tensor:
    """``x`` [R, B, in] through R stacked MLPs: ``relu``, or ``b + x @ W.T`` per run."""
    for name, linear in layers:
        if linear:
            w, b = p[f"{name}.weight"], p[f"{name}.bias"]
            x = torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))
        else:
            x = torch.relu(x)
    return x


# -- the task ------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Task:
    """A training problem: ``make_data(seed) -> (X_train, y_train, X_val, y_val)``,
    ``make_model() -> nn.Module`` (called under a seeded RNG), ``loss`` and ``metric``.

    ``init`` says how :meth:`build` seeds a model: ``"construct"`` calls
    ``make_model()`` after seeding torch's CPU generator with ``seed``; ``"reset"``
    deep-copies the module ``make_model()`` returned once and calls
    ``reset_parameters()`` on every sub-module that has one, after seeding.
    The caller's RNG state is left untouched (``torch.random.fork_rng``).
    """

    name: str
    make_data: Callable[[int], Data]
    make_model: Callable[[], nn.Module]
    loss: str = "cross_entropy"
    metric: str | None = "accuracy"
    description: str = ""
    init: str = "construct"
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, init=False)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise InputError(f"task {self.name!r}: loss must be one of {LOSSES}, got {self.loss!r}")
        if self.metric not in METRICS:
            raise InputError(
                f"task {self.name!r}: metric must be one of {METRICS}, got {self.metric!r}"
            )

    def data(self, seed: int = 0) -> Data:
        """The split for ``seed`` (computed once, then cached), checked for shape and size."""
        key = ("data", seed)
        if key not in self._cache:
            self._cache[key] = _check_data(self.name, self.make_data(seed), self.loss)
        out: Data = self._cache[key]
        return out

    def build(self, seed: int) -> nn.Module:
        """A fresh module for one run, initialised from ``seed``."""
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)  # CPU only: no lazy CUDA/XPU seeding
            if self.init == "construct":
                return self.make_model()
            if "module" not in self._cache:
                self._cache["module"] = self.make_model()
            model: nn.Module = copy.deepcopy(self._cache["module"])
            for m in model.modules():
                reset = getattr(m, "reset_parameters", None)
                if callable(reset):
                    reset()
            return model

    def batched(self, seeds: Sequence[int], dtype: torch.dtype = torch.float32) -> BatchedModel:
        """One :class:`BatchedModel` holding ``build(s)`` for every ``s`` in ``seeds``."""
        return BatchedModel([self.build(s).to(dtype) for s in seeds])


def _check_data(name: str, data: Any, loss: str) -> Data:
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise InputError(
            f"task {name!r}: data must be (X_train, y_train, X_val, y_val), "
            f"got {type(data).__name__}"
        )
    xt, yt, xv, yv = (torch.as_tensor(a) for a in data)
    for part, x, y in (("train", xt, yt), ("validation", xv, yv)):
        if len(x) == 0:
            raise InputError(f"task {name!r}: the {part} set is empty")
        if len(x) != len(y):
            raise InputError(
                f"task {name!r}: {part} X has {len(x)} rows but y has {len(y)}"
            )
    if loss == "cross_entropy":
        yt, yv = yt.long(), yv.long()
    else:
        yt, yv = (y.float().reshape(len(y), -1) for y in (yt, yv))
    return xt.float(), yt, xv.float(), yv


def mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    """A ReLU MLP ``n_in -> hidden... -> n_out``."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def _split(n: int, seed: int, val_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * val_fraction))) if n > 1 else 0
    return perm[n_val:], perm[:n_val]


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [(a - mean) / std for a in (train, *others)]


# -- built-in tasks --------------------------------------------------------------


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits (1797 x 64, labels 0-9), read without importing
    sklearn (saves seconds of start-up); ``load_digits`` is the fallback."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for root in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(root, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            table = np.loadtxt(path, delimiter=",")
            return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64)


def _digits(seed: int, image: bool) -> Data:
    X, y = _load_digits()
    tr, va = _split(len(X), seed)
    xt, xv = _standardise(X[tr].astype(np.float64), X[va].astype(np.float64))
    if image:
        xt, xv = xt.reshape(-1, 1, 8, 8), xv.reshape(-1, 1, 8, 8)
    return (torch.tensor(xt, dtype=torch.float32), torch.tensor(y[tr]),
            torch.tensor(xv, dtype=torch.float32), torch.tensor(y[va]))


def _digits_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 2 * 2, 10),
    )


def _teacher_student(seed: int, n: int = 2560, dim: int = 16, noise: float = 0.5) -> Data:
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(dim, 32, generator=g) / math.sqrt(dim)
    w2 = torch.randn(32, 1, generator=g) / math.sqrt(32)
    x = torch.randn(n, dim, generator=g)
    clean = torch.tanh(x @ w1) @ w2
    y = clean / clean.std() + noise * torch.randn(n, 1, generator=g)
    n_val = n // 5
    return x[n_val:], y[n_val:], x[:n_val], y[:n_val]


def _noisy_quadratic(seed: int, n: int = 2560, dim: int = 32, noise: float = 0.5) -> Data:
    g = torch.Generator().manual_seed(seed)
    h = 1.0 / torch.arange(1, dim + 1, dtype=torch.float32)  # curvatures: Hessian = diag(h)
    x = torch.randn(n, dim, generator=g) * h.sqrt()
    w = torch.randn(dim, 1, generator=g)
    y = x @ w + noise * torch.randn(n, 1, generator=g)
    n_val = n // 5
    return x[n_val:], y[n_val:], x[:n_val], y[:n_val]


BUILTIN: dict[str, Callable[[], Task]] = {
    "digits-mlp": lambda: Task(
        "digits-mlp", lambda s: _digits(s, image=False), lambda: mlp(64, (64,), 10),
        description="8x8 digits (sklearn), MLP 64-64-10, cross-entropy, accuracy",
    ),
    "digits-cnn": lambda: Task(
        "digits-cnn", lambda s: _digits(s, image=True), _digits_cnn,
        description="8x8 digits (sklearn), 2-layer CNN, cross-entropy, accuracy",
    ),
    "teacher-student": lambda: Task(
        "teacher-student", _teacher_student, lambda: mlp(16, (64,), 1), loss="mse", metric=None,
        description="regression on a random tanh teacher with label noise, MLP 16-64-1",
    ),
    "noisy-quadratic": lambda: Task(
        "noisy-quadratic", _noisy_quadratic, lambda: nn.Linear(32, 1), loss="mse", metric=None,
        description="linear regression: a quadratic with curvatures 1/i plus minibatch noise",
    ),
}


def get_task(name: str | Task) -> Task:
    """A built-in task by name, ``"package.module:factory"``, or a data file path.

    >>> get_task("digits-mlp").loss
    'cross_entropy'
    """
    if isinstance(name, Task):
        return name
    if not isinstance(name, str) or not name:
        raise InputError(f"task must be a non-empty name, got {name!r}")
    if name in BUILTIN:
        return BUILTIN[name]()
    if ":" in name and not os.path.exists(name):
        return from_factory(name)
    if os.path.splitext(name)[1].lower() in (".csv", ".npz", ".parquet"):
        raise InputError(f"task {name!r}: a data file needs a target column (use from_file)")
    close = difflib.get_close_matches(name, list(BUILTIN), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    raise InputError(
        f"unknown task {name!r}{hint} Built-in tasks: {', '.join(BUILTIN)}; "
        f"or 'package.module:factory'"
    )


# -- user data -------------------------------------------------------------------


def _read_columns(path: str) -> dict[str, np.ndarray]:
    ext = os.path.splitext(path)[1].lower()
    if ext == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            raise InputError(f"data file {path!r} is empty")
        header, body = rows[0], [r for r in rows[1:] if r]
        if any(len(r) != len(header) for r in body):
            bad = next(i for i, r in enumerate(body, 2) if len(r) != len(header))
            raise InputError(f"data file {path!r}: line {bad} has a different number of fields")
        cols = list(zip(*body)) if body else [()] * len(header)
        return {h.strip(): np.array(c, dtype=object) for h, c in zip(header, cols)}
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if ext == ".parquet":
        try:
            import pandas as pd
        except ImportError:
            raise InputError(
                f"reading {path!r} needs the packages 'pandas' and 'pyarrow' "
                f"(pip install pandas pyarrow); or use .csv/.npz"
            ) from None
        try:
            frame = pd.read_parquet(path)
        except ImportError as e:
            raise InputError(f"reading {path!r} needs the package 'pyarrow': {e}") from None
        return {str(c): frame[c].to_numpy() for c in frame.columns}
    raise InputError(
        f"data file {path!r}: unsupported extension {ext!r}; use .csv, .npz or .parquet"
    )


def _numeric(path: str, name: str, col: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(col, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            f"data file {path!r}: column {name!r} is not numeric (only numeric features are "
            f"supported)"
        ) from None


def from_file(path: str, target: str, *, max_classes: int = 50) -> Task:
    """A task from a table: every column but ``target`` is a feature (numeric).

    ``.csv`` (header row), ``.npz`` (one array per column: 1-D arrays, or one 2-D
    array ``X`` beside the target array) and ``.parquet`` (needs pandas and
    pyarrow). Classification (cross-entropy, accuracy) when the target is
    integer-valued or non-numeric with at most ``max_classes`` classes; else
    regression (mse on the standardised target). Features are standardised
    with the training split's mean and std; the split is 80/20, seeded.
    The model is an MLP ``n_features -> h -> n_out`` with
    ``h = min(256, max(32, 2 * n_features))``.
    """
    if not isinstance(target, str) or not target:
        raise InputError(f"target must be a column name, got {target!r}")
    if not os.path.isfile(path):
        raise InputError(f"data file not found: {path!r}")
    cols = _read_columns(path)
    if target not in cols:
        raise InputError(
            f"data file {path!r} has no column {target!r}; columns: {', '.join(cols) or '(none)'}"
        )
    y_raw = np.asarray(cols[target])
    if len(y_raw) < 2:
        raise InputError(f"data file {path!r} is empty (needs at least 2 rows, got {len(y_raw)})")
    feats = []
    for k, v in cols.items():
        if k == target:
            continue
        a = _numeric(path, k, v)
        feats.append(a.reshape(len(a), -1))
    if not feats:
        raise InputError(f"data file {path!r}: no feature columns besides {target!r}")
    X = np.concatenate(feats, axis=1)
    if len(X) != len(y_raw):
        raise InputError(f"data file {path!r}: {len(X)} feature rows but {len(y_raw)} targets")
    if not np.all(np.isfinite(X)):
        raise InputError(f"data file {path!r}: features contain missing or non-finite values")
    try:
        y_num = np.asarray(y_raw, dtype=np.float64)
        integer = bool(np.all(np.isfinite(y_num)) and np.all(y_num == np.round(y_num)))
    except (TypeError, ValueError):
        y_num, integer = None, True
    classes = np.unique(y_raw.astype(str) if y_num is None else y_num)
    classify = integer and 2 <= len(classes) <= max_classes
    if y_num is None and not classify:
        raise InputError(
            f"data file {path!r}: target {target!r} is not numeric and has {len(classes)} classes "
            f"(at most {max_classes})"
        )
    n_in = X.shape[1]
    hidden = min(256, max(32, 2 * n_in))
    name = f"{os.path.basename(path)}:{target}"

    def make_data(seed: int) -> Data:
        tr, va = _split(len(X), seed)
        xt, xv = _standardise(X[tr], X[va])
        if classify:
            labels = np.searchsorted(classes, y_raw.astype(str) if y_num is None else y_num)
            yt, yv = torch.tensor(labels[tr]), torch.tensor(labels[va])
        else:
            assert y_num is not None
            y2 = y_num.reshape(len(y_num), -1)
            a, b = _standardise(y2[tr], y2[va])
            yt, yv = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
        return (torch.tensor(xt, dtype=torch.float32), yt,
                torch.tensor(xv, dtype=torch.float32), yv)

    n_out = len(classes) if classify else 1
    kind = f"{len(classes)}-class classification" if classify else "regression"
    return Task(
        name, make_data, lambda: mlp(n_in, (hidden,), n_out),
        loss="cross_entropy" if classify else "mse", metric="accuracy" if classify else None,
        description=f"{path}: {len(X)} rows, {n_in} features, {kind}, MLP {n_in}-{hidden}-{n_out}",
    )


def from_factory(spec: str) -> Task:
    """A task from ``"package.module:factory"``: any PyTorch model.

    ``factory()`` is called once with no arguments and returns either a
    :class:`Task`, or a mapping with keys

    * ``"model"``: a zero-argument callable returning a fresh ``nn.Module``
      (called once per run, after seeding torch's CPU generator with the run's
      seed), or an ``nn.Module`` instance (each run gets a deep copy whose
      sub-modules' ``reset_parameters()`` are called after seeding; parameters
      without a ``reset_parameters`` keep the instance's values);
    * ``"data"``: ``(X_train, y_train, X_val, y_val)`` tensors or arrays, or a
      callable ``seed -> (X_train, y_train, X_val, y_val)``;
    * optional ``"loss"`` (``"cross_entropy"`` or ``"mse"``; default: cross-entropy
      when ``y_train`` is integer, else mse), ``"metric"`` (``"accuracy"`` or
      ``None``; default: accuracy for cross-entropy), ``"name"``.

    A tuple ``(model, data)`` or ``(model, data, loss)`` is accepted too. The
    model takes one tensor ``x`` and returns logits (``[B, classes]``) or
    predictions (``[B, k]``). For batched training it must work under
    ``torch.func.vmap``: BatchNorm (running statistics included) and dropout
    do; data-dependent Python control flow and ``.item()`` calls do not.
    """
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise InputError(f"task factory must be 'package.module:factory', got {spec!r}")
    mod_name, fn_name = spec.split(":")
    try:
        module = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - any import failure is a user error here
        raise InputError(
            f"cannot import task module {mod_name!r}: {type(e).__name__}: {e}"
        ) from None
    factory = getattr(module, fn_name, None)
    if not callable(factory):
        raise InputError(f"module {mod_name!r} has no callable {fn_name!r}")
    try:
        made = factory()
    except Exception as e:  # noqa: BLE001
        raise InputError(f"task factory {spec!r} failed: {type(e).__name__}: {e}") from None
    if isinstance(made, Task):
        return made
    if isinstance(made, (tuple, list)) and len(made) in (2, 3):
        made = dict(zip(("model", "data", "loss"), made))
    if not isinstance(made, dict) or "model" not in made or "data" not in made:
        raise InputError(
            f"task factory {spec!r} must return a Task or a dict with 'model' and 'data', "
            f"got {type(made).__name__}"
        )
    model, data = made["model"], made["data"]
    make_data = data if callable(data) else (lambda seed, _d=data: tuple(_d))
    if isinstance(model, nn.Module):
        make_model, init = (lambda _m=model: _m), "reset"
    elif callable(model):
        make_model, init = model, "construct"
    else:
        raise InputError(f"task factory {spec!r}: 'model' must be an nn.Module or a callable")
    loss = made.get("loss")
    if loss is None:
        y0 = torch.as_tensor(make_data(0)[1])
        loss = "mse" if y0.is_floating_point() else "cross_entropy"
    metric = made.get("metric", "accuracy" if loss == "cross_entropy" else None)
    return Task(made.get("name", spec), make_data, make_model, loss=loss, metric=metric,
                description=f"factory {spec}", init=init)
