"""Keras 3 models in ``lrkit compare``: trained run by run with ``model.fit``.

A ``--task module:factory`` whose factory returns a mapping with the key
``"keras"`` is a Keras task::

    def make():
        def build():                        # a fresh, compiled keras.Model per call
            model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, "relu"),
                                      keras.layers.Dense(10)])
            model.compile(keras.optimizers.SGD(momentum=0.9),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            return model
        return {"keras": build, "data": (x, y, x_val, y_val), "name": "digits-keras"}

``data`` is four NumPy arrays (or anything ``numpy.asarray`` takes); optional
``"loss"`` (``"cross_entropy"`` or ``"mse"``, for the report; default from ``y``'s
dtype), ``"metric"`` (``"accuracy"`` or ``None``; default accuracy for
cross-entropy) and ``"name"``. Each run calls ``keras.utils.set_random_seed(seed)``,
``build()``, evaluates once (step 0) and then ``model.fit`` for the run's steps
(``shuffle=True``, evaluating on the validation split at every epoch's end and
after the last step) with :class:`lrkit.keras.Callback` setting the compiled
optimizer's learning rate before every update. The model's own optimizer,
loss and metrics are used: ``--optimizer``, ``--momentum``, ``--nesterov``,
``--weight-decay``, ``--betas``, ``--eps``, ``--grad-clip``, ``--eval-every`` and
``--device`` are refused for it. The range test (``--peaks auto``, ``lrkit find-lr``)
is :func:`lrkit.keras.find_lr` on the model built under the first seed
(:func:`range_test`). Keras' per-batch ``loss`` is a running mean
over the epoch weighted by batch size; the loss of each batch is recovered from it
exactly (``(W_k m_k - W_{k-1} m_{k-1}) / b_k``, ``W`` the examples seen). A run whose
loss turns non-finite is stopped and counted as diverged. ``KERAS_BACKEND``
defaults to ``torch`` when Keras is not imported yet.

Runs cannot be batched into one model as PyTorch's are (``torch.func.vmap``), so a
Keras comparison costs about one ``model.fit`` per run; ``benchmarks/bench_keras_task.py``
measures it against the batched PyTorch path.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InputError
from ..schedule import Schedule
from .recipe import TRAINING
from .tasks import Task

FIXED = ("optimizer", "momentum", "nesterov", "weight_decay", "betas", "eps", "grad_clip",
         "eval_every", "device")
"""The training settings a Keras task takes from its compiled model (or leaves alone)."""

_METRIC_KEYS = ("val_accuracy", "val_sparse_categorical_accuracy", "val_acc",
                "val_categorical_accuracy")


def _no_torch_model() -> Any:
    raise InputError("a Keras task trains with model.fit, not as a PyTorch module")


@dataclass(frozen=True, eq=False)
class KerasTask(Task):
    """A :class:`~lrkit.experiment.tasks.Task` whose model is a compiled Keras model
    (``build_keras()``), trained by :func:`train_runs`; see the module docstring."""

    build_keras: Callable[[], Any] = _no_torch_model
    arrays: tuple[np.ndarray, ...] = ()
    framework: str = field(default="keras", init=False)

    def setting(self, name: str, value: Any = None) -> Any:
        if name in FIXED and value is not None:
            flag = "--" + name.replace("_", "-")
            raise InputError(f"{flag}: a Keras task uses its compiled model's optimizer and "
                             f"evaluates every epoch; leave {flag} out")
        return super().setting(name, value)

    def with_recipe(self, **settings: Any) -> KerasTask:
        keep = {k: v for k, v in settings.items() if k not in FIXED}
        t = replace(self, recipe={**self.recipe, **{k: v for k, v in keep.items()
                                                     if v is not None}})
        object.__setattr__(t, "_cache", self._cache)
        return t

    def data(self, seed: int = 0) -> Any:
        """The four arrays (the same split for every seed)."""
        return self.arrays

    def fingerprint(self) -> str:
        """A hash of the name, loss, metric, the factory's source, the data and the
        built model (its config and initial weights under seed 0)."""
        if "fingerprint" in self._cache:
            out: str = self._cache["fingerprint"]
            return out
        import keras

        h = hashlib.sha256(json.dumps({"name": self.name, "loss": self.loss,
                                       "metric": self.metric, "framework": "keras"}).encode())
        for f in sorted(self.sources):
            with open(f, "rb") as fh:
                h.update(f.encode() + b"\0" + hashlib.sha256(fh.read()).digest())
        for a in self.arrays:
            h.update(f"{a.dtype}{a.shape}".encode() + np.ascontiguousarray(a).tobytes())
        keras.utils.set_random_seed(0)
        model = self.build_keras()
        h.update(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
        for w in model.get_weights():
            h.update(np.ascontiguousarray(w).tobytes())
        self._cache["fingerprint"] = out = h.hexdigest()[:16]
        return out


def keras_task(spec: str, made: dict[str, Any], sources: tuple[str, ...]) -> KerasTask:
    """The :class:`KerasTask` of a factory's mapping (``made["keras"]`` and ``made["data"]``)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    build = made["keras"]
    if not callable(build):
        raise InputError(f"task factory {spec!r}: 'keras' must be a zero-argument callable "
                         "returning a compiled keras.Model")
    data = made.get("data")
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise InputError(f"task factory {spec!r}: 'data' must be (x, y, x_val, y_val)")
    arrays = tuple(np.asarray(a) for a in data)
    if len(arrays[0]) != len(arrays[1]) or len(arrays[2]) != len(arrays[3]) or \
            len(arrays[0]) < 1 or len(arrays[2]) < 1:
        raise InputError(f"task factory {spec!r}: 'data' needs as many x as y rows, in both "
                         f"splits, got {[len(a) for a in arrays]}")
    loss = made.get("loss") or ("cross_entropy" if arrays[1].dtype.kind in "iub" else "mse")
    metric = made.get("metric", "accuracy" if loss == "cross_entropy" else None)
    make_data: Any = lambda seed: tuple(arrays)  # noqa: E731 - NumPy arrays, not tensors
    return KerasTask(made.get("name", spec), make_data, _no_torch_model,
                     loss=loss, metric=metric, description=f"Keras factory {spec}",
                     sources=sources, build_keras=build, arrays=arrays)


def _recorder(steps: int, n: int, batch: int, progress: Callable[[int], None] | None) -> Any:
    """A Keras callback recording each batch's own loss and every evaluation; it stops
    the fit after ``steps`` updates or at the first non-finite loss."""
    import keras

    class Record(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.train_loss: list[float] = []
            self.evals: list[tuple[int, float, float | None]] = []
            self.diverged_at: int | None = None
            self.prev = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.prev = 0.0

        def on_train_batch_end(self, i: int, logs: Any = None) -> None:
            m = float((logs or {}).get("loss", math.nan))
            seen, before = min((i + 1) * batch, n), i * batch
            loss = (seen * m - before * self.prev) / (seen - before)
            self.prev = m
            self.train_loss.append(loss)
            if progress is not None:
                progress(1)
            if not math.isfinite(loss) and self.diverged_at is None:
                self.diverged_at = len(self.train_loss) - 1
            if self.diverged_at is not None or len(self.train_loss) >= steps:
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = logs or {}
            metric = next((float(logs[k]) for k in _METRIC_KEYS if k in logs), None)
            self.evals.append((len(self.train_loss), float(logs.get("val_loss", math.nan)),
                               metric))

    return Record()


def train_runs(task: KerasTask, runs: Sequence[tuple[str, Schedule, int]], steps: int,
               batch_size: int = int(TRAINING["batch_size"]),
               progress: Callable[[int], None] | None = None, **ignored: Any) -> list[Any]:
    """Train each run with ``model.fit`` (see the module docstring); returns a
    :class:`~lrkit.experiment.trainer.RunResult` per run, in order. ``progress(k)`` gets
    each optimizer step of each run (``k = 1``)."""
    import keras

    from ..keras import Callback
    from .trainer import RunResult

    x, y, xv, yv = task.arrays
    n = len(x)
    spe = -(-n // batch_size)
    epochs = -(-steps // spe)
    planned = [0, *(min((e + 1) * spe, steps) for e in range(epochs))]
    out = []
    for key, schedule, seed in runs:
        t0 = time.perf_counter()
        keras.utils.set_random_seed(int(seed))
        model = task.build_keras()
        first = model.evaluate(xv, yv, batch_size=max(batch_size, 256), verbose=0,
                               return_dict=True)
        rec = _recorder(steps, n, batch_size, progress)
        model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
                  validation_data=(xv, yv), callbacks=[Callback(schedule, "batch"), rec])
        m0 = next((float(first[k[4:]]) for k in _METRIC_KEYS if k[4:] in first), None)
        evals = {0: (float(first.get("loss", math.nan)), m0)}
        stop = rec.diverged_at
        for at, vl, vm in rec.evals:
            evals[at] = (vl, vm)
        val_loss = np.full(len(planned), np.nan)
        val_metric = np.full(len(planned), np.nan) if task.metric else None
        for i, at in enumerate(planned):
            if at in evals and (stop is None or at <= stop):
                val_loss[i] = evals[at][0]
                if val_metric is not None and evals[at][1] is not None:
                    val_metric[i] = evals[at][1]
        train_loss = np.full(steps, np.nan)
        got = np.asarray(rec.train_loss[:steps], dtype=np.float64)
        train_loss[:len(got)] = got
        diverged = stop is not None or not bool(np.isfinite(val_loss[-1]))
        if diverged and progress is not None and len(got) < steps:
            progress(steps - len(got))  # the bar counts the steps it will not train
        out.append(RunResult(key=key, train_loss=train_loss,
                             eval_steps=np.asarray(planned, dtype=np.int64),
                             val_loss=val_loss, val_metric=val_metric,
                             lr=np.asarray(schedule.values(steps), dtype=np.float64),
                             diverged=diverged, seconds=time.perf_counter() - t0,
                             diverged_at=stop))
    return out


def range_test(task: KerasTask, seed: int, batch_size: int, **options: Any) -> Any:
    """The learning-rate range test on a Keras task: :func:`lrkit.keras.find_lr` on the
    model built under ``seed`` (one seed: ``--peaks auto`` and ``lrkit find-lr`` use the
    first seed given). ``options`` are ``find_lr``'s (``start``, ``end``, ``steps``,
    ``mode``, ``smooth``, ``diverge``, ``suggestion``); returns its ``LRFindResult``."""
    import keras

    from ..keras import find_lr

    keras.utils.set_random_seed(int(seed))
    model = task.build_keras()
    x, y = task.arrays[:2]
    return find_lr(model, x, y, batch_size=batch_size, **options)
