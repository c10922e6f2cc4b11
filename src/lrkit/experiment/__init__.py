"""Experiments: tasks, the batched trainer, the learning-rate range test, ``lrkit compare``.

One job per module. A comparison flows one way: ``recipe`` (the method's
constants) -> ``candidates`` (schedules as shapes, peaks) -> ``grid`` (planned
runs, keys, chunks) -> ``runner`` (training chunks, the worker pool) -> ``store``
(the Optuna study) -> ``stats`` / ``summary`` (ranked rows) -> ``report``
(rendering); ``compare`` orchestrates, ``progress`` is what it reports to.
``tasks``, ``trainer`` and ``lr_find`` train.

Importing this package is cheap: the submodules (which import torch) load on
first attribute access, e.g. ``lrkit.experiment.train``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Task": "tasks", "get_task": "tasks", "from_file": "tasks", "from_factory": "tasks",
    "BatchedModel": "batched", "BUILTIN": "tasks",
    "Run": "trainer", "RunResult": "trainer", "train": "trainer", "train_one": "trainer",
    "steps_per_epoch": "trainer",
    "find_lr": "lr_find", "find_lr_task": "lr_find", "LRFindResult": "lr_find",
    "plot_lr_find": "lr_find",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
