"""Keras 3 adapters: an lrkit schedule as a ``LearningRateSchedule``, or driven by a callback.

Two ways to let an lrkit schedule drive a Keras optimizer:

* :class:`Schedule` puts the schedule *inside* the optimizer. Keras calls it
  with the optimizer's update counter ``iterations`` (``t`` = completed
  updates, so the first update uses ``s(0)``); it evaluates the schedule's one
  formula with ``keras.ops`` in float64 (where the backend has float64) and
  casts to ``floatx``. It is registered for Keras serialization, so
  ``model.save(...)`` / ``keras.models.load_model(...)`` restore it without
  ``custom_objects`` (once ``lrkit.keras`` is imported)::

      opt = keras.optimizers.SGD(learning_rate=lrkit.keras.Schedule(s), momentum=0.9)

* :class:`Callback` writes ``s(t)`` (a Python float computed in float64) into
  an optimizer that has a *float* learning rate, at the start of every epoch
  (``t`` = epoch index, Keras' ``LearningRateScheduler`` pattern) or every
  batch (``t`` = completed updates, or fractional epochs with
  ``steps_per_epoch``). A ``plateau(...)`` factor in the schedule is fed from
  ``logs[monitor]`` at the end of every epoch and multiplies the schedule:
  ``lr = max(base(t) * scale, min(base(t), floor))``. It writes the learning
  rate into ``logs["learning_rate"]``.

Importing this module imports Keras: set ``KERAS_BACKEND`` first.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

try:
    import keras
except ModuleNotFoundError as e:  # Keras' default backend (TensorFlow) is not installed
    raise ImportError(
        f"lrkit.keras: importing keras failed ({e}); Keras 3 needs a backend: install one and "
        "set KERAS_BACKEND=torch (or jax, tensorflow) before keras is imported"
    ) from e

from . import _check, _traced
from ._plateau import Plateau, PlateauState, split_plateau
from .errors import InputError, InputTypeError
from .schedule import REGISTRY
from .schedule import Schedule as _Schedule
from .spec import as_schedule, from_dict

__all__ = ["Schedule", "Callback", "find_lr"]

INTERVALS = {"epoch": "epoch", "batch": "batch", "step": "batch"}
"""The units ``interval`` accepts: ``"step"`` (PyTorch's word) is ``"batch"``."""


def _lrkit_schedule(who: str, schedule: Any) -> _Schedule:
    """An lrkit schedule from a schedule, a number or a spec string; refuse Python functions."""
    if callable(schedule) and not isinstance(schedule, _Schedule):
        raise InputTypeError(
            f"{who}: schedule={schedule!r} is a Python function; Keras can neither trace it "
            "inside the train step nor save it. Write it as an lrkit schedule (e.g. "
            "lrkit.step_decay(0.1, factor=0.5, every=10)); a per-epoch Python function can go "
            "to keras.callbacks.LearningRateScheduler instead"
        )
    return as_schedule(schedule, f"{who}: schedule")


def _steps_per_epoch(who: str, value: Any) -> int | None:
    return None if value is None else _check.integer(who, "steps_per_epoch", value)


def _compute_dtype() -> str:
    """float64, except on the JAX backend without ``jax_enable_x64``."""
    if keras.backend.backend() == "jax":
        import jax

        return str(jax.dtypes.canonicalize_dtype(np.float64))
    return "float64"


def check_serializable(schedule: _Schedule, who: str = "lrkit.keras") -> dict[str, Any]:
    """``schedule.to_dict()``, after checking that ``lrkit.from_dict`` rebuilds it from JSON.

    Raises ``TypeError`` naming the way to register a user-defined schedule class.
    """
    cls = type(schedule)
    hint = (
        f"define {cls.__module__}.{cls.__qualname__} with the @lrkit.schedule.schedule_class "
        "decorator and a unique class attribute name = '...' (its spec name), make its "
        "fields numbers/strings/tuples/schedules, and import that module before "
        "keras.models.load_model"
    )
    if not cls.name or REGISTRY.get(cls.name) is not cls:
        raise InputTypeError(f"{who}: cannot save {schedule!r}: {cls.__qualname__} is not a "
                        f"registered lrkit schedule class; {hint}")
    try:
        data = schedule.to_dict()
        back = from_dict(json.loads(json.dumps(data)))
    except Exception as e:  # noqa: BLE001 - any failure means "not serializable"
        raise InputTypeError(f"{who}: cannot save {schedule!r} ({type(e).__name__}: {e}); "
                        f"{hint}") from e
    if back != schedule:
        raise InputTypeError(f"{who}: cannot save {schedule!r}: it reloads as {back!r}; {hint}")
    return data


def _check_traceable(who: str, schedule: _Schedule) -> None:
    """Evaluate on a small keras tensor now, so an untraceable formula fails before training."""
    ts = np.array([0.0, 1.0, 7.5, 1000.0])
    try:
        out = schedule.evaluate(keras.ops.convert_to_tensor(ts, dtype=_compute_dtype()),
                                "keras.ops")
        got = np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float64)
    except Exception as e:  # noqa: BLE001 - report whatever the formula raised
        raise InputTypeError(
            f"{who}: {schedule!r} cannot be evaluated with keras.ops, so Keras cannot trace it "
            f"({type(e).__name__}: {e}). {_traced.TRACEABLE}"
        ) from e
    _traced.same_as_numpy(who, schedule, ts, got, "under keras.ops",
                         _compute_dtype() == "float64",
                         "its formula is not the same in every namespace")


@keras.saving.register_keras_serializable(package="lrkit", name="Schedule")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):  # type: ignore[misc]
    """An lrkit schedule as a Keras ``LearningRateSchedule``.

    ``lr = schedule(iterations)``, or ``schedule(iterations / steps_per_epoch)``
    (fractional epochs) for a schedule written in epochs. ``iterations`` counts
    completed updates, so the first update uses ``schedule(0)``. Evaluated with
    ``keras.ops`` in float64 (float32 on JAX without x64), cast to ``floatx``.

    ``get_config()`` is ``{"schedule": schedule.to_dict(), ...}``: the model
    file holds the spec, and loading rebuilds the same schedule value.

    A plateau factor needs metrics, which a ``LearningRateSchedule`` never
    sees: use :class:`Callback` for ``schedule * plateau(...)``.
    """

    def __init__(self, schedule: Any, steps_per_epoch: int | None = None,
                 name: str | None = None) -> None:
        super().__init__()
        who = "lrkit.keras.Schedule"
        s = _lrkit_schedule(who, schedule)
        if split_plateau(s)[1] is not None:
            raise InputError(
                f"{who}: {s!r} holds a plateau(...) factor, which needs metric values that a "
                "LearningRateSchedule never sees; use lrkit.keras.Callback(schedule, "
                "monitor='val_loss') with a float learning_rate in the optimizer"
            )
        _check_traceable(who, s)
        self.schedule = s
        self.steps_per_epoch = _steps_per_epoch(who, steps_per_epoch)
        self.name = name

    def __call__(self, step: Any) -> Any:
        t = keras.ops.cast(step, _compute_dtype())
        if self.steps_per_epoch is not None:
            t = t / float(self.steps_per_epoch)
        lr = self.schedule.evaluate(t, "keras.ops")
        return keras.ops.cast(lr, keras.config.floatx())

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": check_serializable(self.schedule, "lrkit.keras.Schedule"),
            "steps_per_epoch": self.steps_per_epoch,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Schedule:
        config = dict(config)
        return cls(from_dict(config.pop("schedule")), **config)

    def __repr__(self) -> str:
        extra = "" if self.steps_per_epoch is None else f", steps_per_epoch={self.steps_per_epoch}"
        return f"lrkit.keras.Schedule({self.schedule!r}{extra})"


class Callback(keras.callbacks.Callback):  # type: ignore[misc]
    """Drive an optimizer's float learning rate from an lrkit schedule (and a plateau factor).

    * ``interval="epoch"``: at the start of epoch ``e`` (0-based, as Keras
      counts, so ``initial_epoch`` resumes correctly) ``lr = s(e)``; Keras'
      ``LearningRateScheduler(lambda e: s(e))``.
    * ``interval="batch"`` (or ``"step"``, PyTorch's word): before every update
      ``lr = s(t)`` with ``t`` the optimizer's ``iterations`` (completed updates), or
      ``t = iterations / steps_per_epoch`` for a schedule written in epochs.

    If ``schedule`` is ``base * plateau(...)``, the plateau controller sees
    ``logs[monitor]`` at every epoch end and ``lr = max(base(t) * scale,
    min(base(t), floor))`` (Keras' ``ReduceLROnPlateau`` cannot do this with a
    schedule). The value used is written to ``logs["learning_rate"]`` at the
    end of every batch and epoch. Resume: the schedule position comes from the
    epoch / ``iterations`` (saved with the model); save the controller with
    :meth:`state_dict` and restore it with :meth:`load_state_dict`.
    """

    def __init__(self, schedule: Any, interval: str = "epoch",
                 steps_per_epoch: int | None = None, monitor: str = "val_loss",
                 verbose: int = 0) -> None:
        super().__init__()
        who = "lrkit.keras.Callback"
        s = _lrkit_schedule(who, schedule)
        if not (isinstance(interval, str) and interval in INTERVALS):
            raise InputError(f"{who}: interval must be 'epoch' or 'batch' (or 'step'), "
                             f"got {interval!r}")
        interval = INTERVALS[interval]
        spe = _steps_per_epoch(who, steps_per_epoch)
        if spe is not None and interval != "batch":
            raise InputError(f"{who}: steps_per_epoch={spe!r} goes with interval='batch' "
                             "(a schedule in epochs applied every batch)")
        if not isinstance(monitor, str) or not monitor:
            raise InputError(f"{who}: monitor must be a logs key such as 'val_loss', "
                             f"got {monitor!r}")
        self.schedule = s
        self.base, plateau = split_plateau(s)
        self.plateau: Plateau | None = plateau
        self.controller: PlateauState | None = plateau.state() if plateau else None
        self.interval = interval
        self.steps_per_epoch = spe
        self.monitor = monitor
        self.verbose = int(verbose)
        self.last_lr: float | None = None
        self._warned = False

    # -- the value ---------------------------------------------------------
    def value(self, t: float) -> float:
        """``s(t)`` with the plateau scale applied, as a Python float."""
        base = self.base(t)
        return self.controller.apply(base) if self.controller else base

    def _optimizer(self) -> Any:
        return self.model.optimizer

    def _set(self, t: float, epoch: int | None = None) -> None:
        lr = self.value(t)
        opt = self._optimizer()
        opt.learning_rate = lr
        if self.verbose and epoch is not None and lr != self.last_lr:
            print(f"\nEpoch {epoch + 1}: lrkit sets the learning rate to {lr:.6g}.")
        self.last_lr = lr

    # -- Keras hooks -----------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        opt = self._optimizer()
        if isinstance(getattr(opt, "_learning_rate", None),
                      keras.optimizers.schedules.LearningRateSchedule):
            raise InputTypeError(
                "lrkit.keras.Callback: the optimizer was built with a LearningRateSchedule "
                f"({opt._learning_rate!r}), so its learning rate is not settable. Either give "
                "the optimizer a float learning_rate and let this callback drive it, or use "
                "lrkit.keras.Schedule alone (without the callback)"
            )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interval == "epoch":
            self._set(float(epoch), epoch)

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.interval == "batch":
            t = float(keras.ops.convert_to_numpy(self._optimizer().iterations))
            if self.steps_per_epoch is not None:
                t /= self.steps_per_epoch
            self._set(t)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None and self.last_lr is not None:
            logs["learning_rate"] = self.last_lr

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs if logs is not None else {}
        if self.last_lr is not None:
            logs["learning_rate"] = self.last_lr
        if self.controller is None:
            return
        metric = logs.get(self.monitor)
        if metric is None:
            if not self._warned:
                self._warned = True
                print(f"lrkit.keras.Callback: logs have no {self.monitor!r} "
                      f"(keys: {sorted(logs)}); the plateau factor is not updated")
            return
        current = float(np.asarray(metric))
        if self.controller.observe(current, lr=self.last_lr) and self.verbose:
            print(f"\nEpoch {epoch + 1}: lrkit plateau: {self.monitor} stalled, scale now "
                  f"{self.controller.scale:.6g}.")

    # -- data form / resume ------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": check_serializable(self.schedule, "lrkit.keras.Callback"),
            "interval": self.interval,
            "steps_per_epoch": self.steps_per_epoch,
            "monitor": self.monitor,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Callback:
        config = dict(config)
        return cls(from_dict(config.pop("schedule")), **config)

    def state_dict(self) -> dict[str, Any]:
        """``{"last_lr": ..., "plateau": {...}}``: Python builtins (``plateau`` only with one)."""
        state: dict[str, Any] = {"last_lr": self.last_lr}
        if self.controller is not None:
            state["plateau"] = self.controller.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or "last_lr" not in state:
            raise InputError(f"lrkit.keras.Callback: state must come from state_dict(), "
                             f"got {state!r}")
        has = "plateau" in state
        if has != (self.controller is not None):
            raise InputError(
                "lrkit.keras.Callback: state "
                f"{'has' if has else 'lacks'} a plateau controller but the schedule "
                f"{self.schedule!r} {'lacks' if has else 'has'} one"
            )
        last = state["last_lr"]
        self.last_lr = None if last is None else float(last)
        if self.controller is not None:
            self.controller.load_state_dict(state["plateau"])


# -- the learning-rate range test ------------------------------------------------------------

_FIT_OWN = ("epochs", "steps_per_epoch", "callbacks", "initial_epoch", "verbose",
            "validation_data", "validation_split", "validation_steps", "validation_freq",
            "validation_batch_size")
"""``model.fit`` arguments that :func:`find_lr` sets itself."""


class _Sweep(keras.callbacks.Callback):  # type: ignore[misc]
    """Sets the learning rate of update ``i`` (a float learning rate) and records the loss
    of each batch; stops the fit where the range test's rule says the sweep diverged."""

    def __init__(self, lrs: np.ndarray, set_lr: bool, check: Any, every: int) -> None:
        super().__init__()
        self.lrs, self.set_lr, self.check, self.every = lrs, set_lr, check, every
        self.losses: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.set_lr:
            self.model.optimizer.learning_rate = float(self.lrs[len(self.losses)])

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = float(np.asarray(keras.ops.convert_to_numpy((logs or {})["loss"])))
        self.losses.append(loss)
        n = len(self.losses)
        if n >= len(self.lrs) or ((not np.isfinite(loss) or n % self.every == 0)
                                  and self.check(self.lrs[:n], self.losses).diverged):
            self.model.stop_training = True


def find_lr(model: Any, x: Any, y: Any = None, *, batch_size: int | None = None,
            start: float = 1e-7, end: float = 10.0, steps: int = 100, mode: str = "exp",
            smooth: float = 0.98, diverge: float = 4.0, suggestion: str = "valley",
            plot: str | None = None, **fit_kwargs: Any) -> Any:
    """The learning-rate range test on a compiled Keras 3 ``model``, with ``model.fit``.

    Trains for ``steps`` updates on ``x``, ``y`` (anything ``model.fit`` takes; it is
    cycled if it has fewer batches) while the learning rate sweeps from ``start`` to
    ``end`` (``mode="exp"`` or ``"linear"``), records each batch's loss (measured before
    its update) and reads the suggestions off the smoothed curve: the same sweep,
    smoothing, stop rule, suggestions and figure as :func:`lrkit.find_lr` for PyTorch
    (``lrkit.experiment.lr_find``; the parameters mean what they mean there). Returns its
    ``LRFindResult``; ``plot="lr_find.png"`` also writes the figure.

    Afterwards every model variable (weights, non-trainable state, dropout seeds), every
    optimizer variable (iterations, learning rate, moments) and the optimizer's learning
    rate schedule, if it has one, are as before, and the metrics are reset: ``model.fit``
    then trains as if the test had not run. The optimizer is built first if it was not.

    The fit runs one batch per epoch (so that Keras' ``loss`` is each batch's own, not a
    running mean) for ``steps`` epochs, with this function's callback only; other
    ``fit_kwargs`` (``shuffle``, ``sample_weight``, ``class_weight``) are passed on. A
    float learning rate is set before every batch; a ``LearningRateSchedule`` is swapped
    for the sweep (as :class:`Schedule`, read at ``iterations``, which start at 0) and
    put back. The sweep is checked against the stop rule every ``steps // 25`` batches
    and at any non-finite loss; the result is cut exactly where the rule says.
    """
    from .experiment.lr_find import analyse, check_options, plot_lr_find, sweep

    who = "lrkit.keras.find_lr"
    check_options(start, end, steps, mode, smooth, diverge, suggestion)
    if not isinstance(model, keras.Model) or not getattr(model, "compiled", False):
        raise InputError(f"{who}: model must be a compiled keras.Model (call "
                         f"model.compile(optimizer=..., loss=...) first), got {model!r}")
    if not model.built:
        raise InputError(f"{who}: the model has no weights yet; give it a keras.Input or call "
                         "model.build(input_shape) first, so that they can be restored")
    taken = sorted(set(fit_kwargs) & set(_FIT_OWN))
    if taken:
        raise InputError(f"{who}: {', '.join(taken)} cannot be passed: find_lr runs "
                         f"model.fit itself (one batch per epoch, its own callback)")
    opt = model.optimizer
    if not opt.built:
        opt.build(model.trainable_variables)
    lrs = sweep(start, end, steps, mode).values(steps)
    kept_model = [v.numpy() for v in model.variables]
    kept_opt = [v.numpy() for v in opt.variables]
    scheduled = isinstance(opt._learning_rate, keras.optimizers.schedules.LearningRateSchedule)
    own_schedule = opt._learning_rate if scheduled else None
    history = getattr(model, "history", None)

    def check(lr: np.ndarray, losses: list[float]) -> Any:
        return analyse(lr, losses, planned=steps, smooth=smooth, diverge=diverge,
                       suggestion=suggestion)

    recorder = _Sweep(lrs, not scheduled, check, max(1, steps // 25))
    try:
        opt.iterations.assign(0)
        if scheduled:
            opt.learning_rate = Schedule(sweep(start, end, steps, mode))
        model.fit(x, y, batch_size=batch_size, epochs=steps, steps_per_epoch=1, verbose=0,
                  callbacks=[recorder], **fit_kwargs)
    finally:
        if scheduled:
            opt.learning_rate = own_schedule
        for v, value in zip(model.variables, kept_model):
            v.assign(value)
        for v, value in zip(opt.variables, kept_opt):
            v.assign(value)
        model.reset_metrics()
        model.stop_training = False
        if history is not None:
            model.history = history
    if not recorder.losses:
        raise InputError(f"{who}: model.fit ran no batch (is x empty?)")
    result = check(lrs[:len(recorder.losses)], recorder.losses)
    if plot is not None:
        plot_lr_find(result, plot)
    return result
