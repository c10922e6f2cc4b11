"""Constructors that speak the peers' own parameter names and return ordinary lrkit schedules.

* :func:`transformers` -- Hugging Face's ``get_scheduler(name, ...)`` names and arguments;
* :func:`timm` -- timm's ``create_scheduler_v2(sched=...)`` arguments, its scheduler classes'
  arguments, or a built timm scheduler;
* :func:`keras` -- a Keras 3 ``LearningRateSchedule`` (or its config).

The results are schedules like any other: they print as specs, parse back, compare, plot and
drive every adapter. Nothing here imports the peer library: the first two read arguments
only, and :func:`keras` reads the object's ``get_config()``. Each is tested against the
peer's own library over thousands of steps (``tests/test_peers_*.py``); the table of every
peer call and its lrkit spec, and the differences on purpose, are in ``docs/migrating.md``.

>>> import lrkit.peers
>>> lrkit.peers.transformers("cosine", num_warmup_steps=50, num_training_steps=500, lr=0.1)
warmup(cosine(init=0.1, steps=500), warmup_steps=50)
"""

from ._hf import transformers
from ._keras import keras
from ._timm import timm

__all__ = ["transformers", "timm", "keras"]
