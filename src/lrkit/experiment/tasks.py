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
import hashlib
import importlib
import inspect
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .batched import BatchedModel
from .recipe import TRAINING

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

LOSSES = ("cross_entropy", "mse")
METRICS = ("accuracy", None)


# -- the task ------------------------------------------------------------------


#: what a task's ``recipe`` may set: every training setting, the length and the seeds
RECIPE_KEYS = (*TRAINING, "steps", "epochs", "seeds")


@dataclass(frozen=True, eq=False)
class Task:
    """A training problem: ``make_data(seed) -> (X_train, y_train, X_val, y_val)``,
    ``make_model() -> nn.Module`` (called under a seeded RNG), ``loss`` and ``metric``.

    ``init`` says how :meth:`build` seeds a model: ``"construct"`` calls
    ``make_model()`` after seeding torch's CPU generator with ``seed``; ``"reset"``
    deep-copies the module ``make_model()`` returned once and calls
    ``reset_parameters()`` on every sub-module that has one, after seeding.
    The caller's RNG state is left untouched (``torch.random.fork_rng``).

    ``recipe`` holds the task's own training defaults (any of :data:`RECIPE_KEYS`:
    e.g. tiny-lm trains AdamW with clipping for a number of steps); what it does not
    set is lrkit's default (:data:`~lrkit.experiment.recipe.TRAINING`).
    ``eval_batch_size`` is how many validation examples are evaluated at once.
    ``identity`` adds what else defines the task to its :meth:`fingerprint`
    (a package version, the Python version of a corpus).

    Inputs ``X`` may be float (converted to the training dtype) or integer (token
    ids, kept as int64); with ``cross_entropy``, ``y`` holds one class per example
    (``[N]``) or one per token (``[N, T]``), matching the model's output minus its
    last (class) axis.
    """

    name: str
    make_data: Callable[[int], Data]
    make_model: Callable[[], nn.Module]
    loss: str = "cross_entropy"
    metric: str | None = "accuracy"
    description: str = ""
    init: str = "construct"
    recipe: Mapping[str, Any] = field(default_factory=dict)
    eval_batch_size: int = 1024
    identity: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False, init=False)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"task {self.name!r}: loss must be one of {LOSSES}, got {self.loss!r}")
        if self.metric not in METRICS:
            raise ValueError(
                f"task {self.name!r}: metric must be one of {METRICS}, got {self.metric!r}"
            )
        bad = sorted(set(self.recipe) - set(RECIPE_KEYS))
        if bad:
            raise ValueError(f"task {self.name!r}: recipe has unknown settings {bad}; "
                             f"valid: {', '.join(RECIPE_KEYS)}")
        if isinstance(self.eval_batch_size, bool) or not isinstance(self.eval_batch_size, int) \
                or self.eval_batch_size < 1:
            raise ValueError(f"task {self.name!r}: eval_batch_size must be an integer >= 1, "
                             f"got {self.eval_batch_size!r}")

    def setting(self, name: str, value: Any = None) -> Any:
        """``value`` unless None, else the task's recipe, else lrkit's default.

        >>> get_task("tiny-lm").setting("optimizer"), get_task("digits-mlp").setting("optimizer")
        ('adamw', 'sgd')
        """
        if value is not None:
            return value
        return self.recipe.get(name, TRAINING.get(name))

    def with_recipe(self, **settings: Any) -> Task:
        """This task with ``settings`` (those not None) in its recipe; the data cache is
        shared."""
        t = replace(self, recipe={**self.recipe,
                                  **{k: v for k, v in settings.items() if v is not None}})
        object.__setattr__(t, "_cache", self._cache)
        return t

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

    def batched(self, seeds: Sequence[int], dtype: torch.dtype = torch.float32,
                device: str | torch.device = "cpu") -> BatchedModel:
        """One :class:`~lrkit.experiment.batched.BatchedModel` holding ``build(s)`` for
        every ``s`` in ``seeds`` (whose random draws it seeds)."""
        return BatchedModel([self.build(s).to(dtype).to(device) for s in seeds], seeds)

    def fingerprint(self) -> str:
        """A hash of everything that defines the task, for run keys: its name, loss,
        metric and ``identity`` (not its recipe: run keys hold the settings used); the
        source files of the modules defining ``make_data``, ``make_model``, every
        non-torch class in the model, and ``sources`` (a factory's module); the data
        (``data(0)``, every byte) and the model ``build(0)`` (its structure and initial
        parameters). Change any of these (the code, the data, an environment variable
        the factory reads) and the runs of the old task are not reused. Computed once
        per task object."""
        if "fingerprint" in self._cache:
            out: str = self._cache["fingerprint"]
            return out
        h = hashlib.sha256()
        head = {"name": self.name, "loss": self.loss, "metric": self.metric, "init": self.init,
                "identity": list(self.identity)}
        h.update(json.dumps(head, sort_keys=True, default=str).encode())
        model = self.build(0)
        files = set(self.sources)
        for obj in (self.make_data, self.make_model,
                    *(type(m) for m in model.modules() if not _from_torch(type(m)))):
            f = _source_file(obj)
            if f is not None:
                files.add(f)
        for f in sorted(files):
            with open(f, "rb") as fh:
                h.update(f.encode() + b"\0" + hashlib.sha256(fh.read()).digest())
        for t in self.data(0):
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.detach().contiguous().cpu().numpy().tobytes())
        h.update(repr(model).encode())
        for k, v in model.state_dict().items():
            h.update(k.encode() + v.detach().contiguous().cpu().numpy().tobytes())
        self._cache["fingerprint"] = out = h.hexdigest()[:16]
        return out


def _from_torch(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "torch"


def _source_file(obj: Any) -> str | None:
    """The source file of the module defining ``obj`` (None if there is none)."""
    module = inspect.getmodule(obj)
    f = getattr(module, "__file__", None)
    return os.path.abspath(f) if f and os.path.isfile(f) else None


def _check_data(name: str, data: Any, loss: str) -> Data:
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise ValueError(
            f"task {name!r}: data must be (X_train, y_train, X_val, y_val), "
            f"got {type(data).__name__}"
        )
    xt, yt, xv, yv = (torch.as_tensor(a) for a in data)
    for part, x, y in (("train", xt, yt), ("validation", xv, yv)):
        if len(x) == 0:
            raise ValueError(f"task {name!r}: the {part} set is empty")
        if len(x) != len(y):
            raise ValueError(
                f"task {name!r}: {part} X has {len(x)} rows but y has {len(y)}"
            )
    if loss == "cross_entropy":
        yt, yv = yt.long(), yv.long()
    else:
        yt, yv = (y.float().reshape(len(y), -1) for y in (yt, yv))
    if xt.is_floating_point() != xv.is_floating_point():
        raise ValueError(f"task {name!r}: X_train is {xt.dtype} but X_val is {xv.dtype}")
    if xt.is_floating_point():
        return xt.float(), yt, xv.float(), yv
    return xt.long(), yt, xv.long(), yv


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


# -- mnist1d ----------------------------------------------------------------------------

#: MNIST-1D as the built-in task generates it: mnist1d's defaults but the sample count
MNIST1D_SAMPLES = 20_000


def _cache_dir() -> str:
    """Where generated data is kept between processes: ``$LRKIT_CACHE``, else
    ``$XDG_CACHE_HOME/lrkit``, else ``~/.cache/lrkit``."""
    env = os.environ.get("LRKIT_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lrkit")


def _mnist1d_arrays(samples: int, seed: int) -> dict[str, np.ndarray]:
    """``mnist1d.data.make_dataset`` with the package's default arguments but
    ``num_samples=samples`` and ``seed=42 + seed`` (42 is the package's), generated
    from the templates in its code (no download), then kept in :func:`_cache_dir`
    (keyed by the package version and the arguments; the generator takes ~3.5 s for
    20,000 samples). NumPy's and Python's global random states, which the generator
    reseeds, are restored."""
    import importlib.metadata
    import random

    try:
        version = importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        raise ValueError("task 'mnist1d' needs the package 'mnist1d' (pip install mnist1d)") \
            from None
    key = hashlib.sha256(f"{version}:{samples}:{seed}".encode()).hexdigest()[:16]
    path = os.path.join(_cache_dir(), f"mnist1d-{key}.npz")
    if os.path.isfile(path):
        try:
            with np.load(path) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            pass  # a broken cache file: generate again
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = samples, 42 + seed
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        made = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    out = {k: np.asarray(made[k]) for k in ("x", "y", "x_test", "y_test")}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(tmp, **out)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except OSError:
        pass  # no cache: the next process generates it again
    return out


def _mnist1d(seed: int, samples: int) -> Data:
    d = _mnist1d_arrays(samples, seed)
    return (torch.tensor(d["x"], dtype=torch.float32).unsqueeze(1), torch.tensor(d["y"]),
            torch.tensor(d["x_test"], dtype=torch.float32).unsqueeze(1),
            torch.tensor(d["y_test"]))


def conv1d_net(width: int = 32, length: int = 40, classes: int = 10) -> nn.Sequential:
    """The MNIST-1D CNN: three ``Conv1d`` layers of ``width`` channels (kernel 5, then
    3 and 3), each with stride 2 and followed by ReLU, then a linear layer:
    ``[B, 1, length] -> [B, classes]``."""
    out = length
    for k in (5, 3, 3):
        out = (out + 2 * (k // 2) - k) // 2 + 1
    return nn.Sequential(
        nn.Conv1d(1, width, 5, stride=2, padding=2), nn.ReLU(),
        nn.Conv1d(width, width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv1d(width, width, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(width * out, classes),
    )


def mnist1d_task(samples: int = MNIST1D_SAMPLES, width: int = 32,
                 recipe: Mapping[str, Any] | None = None) -> Task:
    """MNIST-1D (Greydanus 2020): 10 classes of 1-D signals of length 40, generated on
    this machine by the ``mnist1d`` package (its 80/20 split), the CNN
    :func:`conv1d_net`, SGD with momentum 0.9.

    >>> mnist1d_task(samples=200).recipe["optimizer"]
    'sgd'
    """
    import importlib.metadata

    try:
        version = importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        version = "missing"
    rec = {"optimizer": "sgd", "momentum": 0.9, "batch_size": 64, "steps": 2000,
           "eval_every": 200, "seeds": 3, **(recipe or {})}
    return Task(
        "mnist1d", lambda s: _mnist1d(s, samples), lambda: conv1d_net(width),
        description=f"MNIST-1D ({samples:,} samples, mnist1d {version}), 3-layer 1-D CNN "
                    f"of width {width}, cross-entropy, accuracy",
        recipe=rec, identity=(f"mnist1d {version}", f"samples {samples}", f"width {width}"),
    )


# -- tiny-lm ------------------------------------------------------------------------------


def stdlib_files() -> list[str]:
    """The Python standard library's own top-level modules (``<stdlib>/*.py``), sorted."""
    import sysconfig

    root = sysconfig.get_paths()["stdlib"]
    return sorted(os.path.join(root, f) for f in os.listdir(root) if f.endswith(".py"))


def held_out(name: str, every: int = 10) -> bool:
    """Whether the file ``name`` (a base name) is a validation file: the first 8 bytes
    of its SHA-256, as an integer, are divisible by ``every`` (stable across machines
    and versions; about one file in ``every``).

    >>> held_out("os.py"), held_out("abc.py")
    (False, False)
    """
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % every == 0


def _windows(data: bytes, context: int) -> torch.Tensor:
    """Non-overlapping windows of ``context + 1`` bytes: ``[n, context + 1]`` int64."""
    a = np.frombuffer(data, dtype=np.uint8)
    n = (len(a) - 1) // context
    idx = np.arange(n)[:, None] * context + np.arange(context + 1)[None, :]
    return torch.from_numpy(a[idx].astype(np.int64))


def _corpus(context: int, max_bytes: int | None, max_val: int,
            files: Sequence[str] | None = None) -> Data:
    """Training windows from the training files, concatenated in name order (at most
    ``max_bytes``); validation windows from the held-out files (at most ``max_val``,
    evenly spaced)."""
    files = stdlib_files() if files is None else list(files)
    train: list[bytes] = []
    val: list[bytes] = []
    for f in files:
        with open(f, "rb") as fh:
            (val if held_out(os.path.basename(f)) else train).append(fh.read())
    tr, va = b"".join(train), b"".join(val)
    if max_bytes is not None:
        tr = tr[:max_bytes]
    wt, wv = _windows(tr, context), _windows(va, context)
    if len(wt) == 0 or len(wv) == 0:
        raise ValueError(f"task 'tiny-lm': too little text ({len(tr)} training bytes, "
                         f"{len(va)} validation bytes) for windows of {context + 1}")
    if len(wv) > max_val:
        wv = wv[np.linspace(0, len(wv) - 1, max_val).round().astype(np.int64)]
    return wt[:, :-1], wt[:, 1:], wv[:, :-1], wv[:, 1:]


def tiny_lm_task(context: int = 64, d: int = 64, layers: int = 2, heads: int = 4,
                 max_bytes: int | None = None, max_val: int = 512,
                 files: Sequence[str] | None = None,
                 recipe: Mapping[str, Any] | None = None) -> Task:
    """A byte-level causal transformer (:class:`~lrkit.experiment.models.GPT`) trained
    on the Python standard library's own source (:func:`stdlib_files`): one file in
    ten (:func:`held_out`) is validation. The loss is token-level cross-entropy, in
    nats per byte; the recipe is nanoGPT's: AdamW (betas 0.9, 0.95, weight decay 0.1
    on weight matrices only), gradient clipping at 1, evaluated every 100 steps.
    The Python version is part of the task's identity (the corpus changes with it).
    """
    import platform

    from .models import GPT

    rec = {"optimizer": "adamw", "betas": (0.9, 0.95), "eps": 1e-8, "weight_decay": 0.1,
           "grad_clip": 1.0, "batch_size": 32, "steps": 1000, "eval_every": 100, "seeds": 3,
           **(recipe or {})}
    py = platform.python_version()
    return Task(
        "tiny-lm", lambda s: _corpus(context, max_bytes, max_val, files),
        lambda: GPT(context, d, layers, heads), metric=None,
        description=f"bytes of the Python {py} standard library, causal transformer "
                    f"({layers} layers, d={d}, {heads} heads, context {context}), "
                    "cross-entropy in nats per byte",
        recipe=rec, eval_batch_size=64,
        identity=(f"python {py}", f"context {context}", f"d {d}", f"layers {layers}",
                  f"heads {heads}", f"max_bytes {max_bytes}", f"max_val {max_val}"),
    )


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
    "mnist1d": mnist1d_task,
    "tiny-lm": tiny_lm_task,
}


def get_task(name: str | Task) -> Task:
    """A built-in task by name, ``"package.module:factory"``, or a data file path.

    >>> get_task("digits-mlp").loss
    'cross_entropy'
    """
    if isinstance(name, Task):
        return name
    if not isinstance(name, str) or not name:
        raise ValueError(f"task must be a non-empty name, got {name!r}")
    if name in BUILTIN:
        return BUILTIN[name]()
    if ":" in name and not os.path.exists(name):
        return from_factory(name)
    if os.path.splitext(name)[1].lower() in (".csv", ".npz", ".parquet"):
        raise ValueError(f"task {name!r}: a data file needs a target column (use from_file)")
    close = difflib.get_close_matches(name, list(BUILTIN), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "."
    raise ValueError(
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
            raise ValueError(f"data file {path!r} is empty")
        header, body = rows[0], [r for r in rows[1:] if r]
        if any(len(r) != len(header) for r in body):
            bad = next(i for i, r in enumerate(body, 2) if len(r) != len(header))
            raise ValueError(f"data file {path!r}: line {bad} has a different number of fields")
        cols = list(zip(*body)) if body else [()] * len(header)
        return {h.strip(): np.array(c, dtype=object) for h, c in zip(header, cols)}
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    if ext == ".parquet":
        try:
            import pandas as pd
        except ImportError:
            raise ValueError(
                f"reading {path!r} needs the packages 'pandas' and 'pyarrow' "
                f"(pip install pandas pyarrow); or use .csv/.npz"
            ) from None
        try:
            frame = pd.read_parquet(path)
        except ImportError as e:
            raise ValueError(f"reading {path!r} needs the package 'pyarrow': {e}") from None
        return {str(c): frame[c].to_numpy() for c in frame.columns}
    raise ValueError(
        f"data file {path!r}: unsupported extension {ext!r}; use .csv, .npz or .parquet"
    )


def _numeric(path: str, name: str, col: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(col, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
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
        raise ValueError(f"target must be a column name, got {target!r}")
    if not os.path.isfile(path):
        raise ValueError(f"data file not found: {path!r}")
    cols = _read_columns(path)
    if target not in cols:
        raise ValueError(
            f"data file {path!r} has no column {target!r}; columns: {', '.join(cols) or '(none)'}"
        )
    y_raw = np.asarray(cols[target])
    if len(y_raw) < 2:
        raise ValueError(f"data file {path!r} is empty (needs at least 2 rows, got {len(y_raw)})")
    feats = []
    for k, v in cols.items():
        if k == target:
            continue
        a = _numeric(path, k, v)
        feats.append(a.reshape(len(a), -1))
    if not feats:
        raise ValueError(f"data file {path!r}: no feature columns besides {target!r}")
    X = np.concatenate(feats, axis=1)
    if len(X) != len(y_raw):
        raise ValueError(f"data file {path!r}: {len(X)} feature rows but {len(y_raw)} targets")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"data file {path!r}: features contain missing or non-finite values")
    try:
        y_num = np.asarray(y_raw, dtype=np.float64)
        integer = bool(np.all(np.isfinite(y_num)) and np.all(y_num == np.round(y_num)))
    except (TypeError, ValueError):
        y_num, integer = None, True
    classes = np.unique(y_raw.astype(str) if y_num is None else y_num)
    classify = integer and 2 <= len(classes) <= max_classes
    if y_num is None and not classify:
        raise ValueError(
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
        raise ValueError(f"task factory must be 'package.module:factory', got {spec!r}")
    mod_name, fn_name = spec.split(":")
    try:
        module = importlib.import_module(mod_name)
    except Exception as e:  # noqa: BLE001 - any import failure is a user error here
        raise ValueError(
            f"cannot import task module {mod_name!r}: {type(e).__name__}: {e}"
        ) from None
    factory = getattr(module, fn_name, None)
    if not callable(factory):
        raise ValueError(f"module {mod_name!r} has no callable {fn_name!r}")
    try:
        made = factory()
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"task factory {spec!r} failed: {type(e).__name__}: {e}") from None
    source = tuple(f for f in [_source_file(module)] if f is not None)
    if isinstance(made, Task):
        return replace(made, sources=(*made.sources, *source))
    if isinstance(made, (tuple, list)) and len(made) in (2, 3):
        made = dict(zip(("model", "data", "loss"), made))
    if not isinstance(made, dict) or "model" not in made or "data" not in made:
        raise ValueError(
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
        raise ValueError(f"task factory {spec!r}: 'model' must be an nn.Module or a callable")
    loss = made.get("loss")
    if loss is None:
        y0 = torch.as_tensor(make_data(0)[1])
        loss = "mse" if y0.is_floating_point() else "cross_entropy"
    metric = made.get("metric", "accuracy" if loss == "cross_entropy" else None)
    return Task(made.get("name", spec), make_data, make_model, loss=loss, metric=metric,
                description=f"factory {spec}", init=init, sources=source)
