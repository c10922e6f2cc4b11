"""``--task package.module:factory``: a PyTorch task or a Keras one, by what the factory returns.

A mapping with the key ``"keras"`` is a Keras task
(:func:`lrkit.experiment.keras_task.keras_task`); anything else is what
:func:`lrkit.experiment.tasks.from_factory` takes (a ``Task``, or a mapping or
tuple with a PyTorch model). The factory is called once.
"""

from __future__ import annotations

from .tasks import Task, call_factory, from_made


def load_factory(spec: str) -> Task:
    """The task of ``"package.module:factory"``."""
    made, source = call_factory(spec)
    if isinstance(made, dict) and "keras" in made:
        from .keras_task import keras_task

        return keras_task(spec, made, source)
    return from_made(spec, made, source)
