"""Lightning callbacks: :class:`FindLR`, the learning-rate range test at the start of
``trainer.fit``, and :func:`plateau_callback` (also in :mod:`lrkit.torch`).

``FindLR`` runs :func:`lrkit.find_lr` (``lrkit.experiment.lr_find``) on the trainer's own
model, optimizer and train loader, so its sweep, smoothing, stop rule, suggestions and
figure are the PyTorch range test's, and then puts everything back: the training that
follows is the one the trainer would have run without it::

    finder = lrkit.lightning.FindLR(steps=100, attr="lr", plot="lr_find.png")
    trainer = L.Trainer(max_epochs=10, callbacks=[finder])
    trainer.fit(model, train_loader)     # the range test, then the training at the suggestion
    finder.result.suggestion, finder.result.suggestions

Importing this module imports Lightning and torch.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities.parsing import lightning_hasattr, lightning_setattr
from lightning.pytorch.utilities.seed import isolate_rng

from .errors import InputError, InputTypeError
from .experiment.lr_find import LRFindResult, check_options, find_lr, plot_lr_find
from .torch import plateau_callback

__all__ = ["FindLR", "plateau_callback"]


class _TrainingStep(torch.nn.Module):
    """``step((batch, index))`` is the LightningModule's training loss on ``batch``: moved
    to the trainer's device, computed under its precision's training-step context."""

    def __init__(self, trainer: Any, module: Any) -> None:
        super().__init__()
        self.module = module
        self._trainer = [trainer]  # (a list: not registered as a submodule)

    def forward(self, item: tuple[Any, int]) -> torch.Tensor:
        batch, index = item
        trainer = self._trainer[0]
        batch = trainer.strategy.batch_to_device(batch)
        with trainer.precision_plugin.train_step_context():
            out = self.module.training_step(batch, index)
        loss = out.get("loss") if isinstance(out, Mapping) else out
        if not isinstance(loss, torch.Tensor):
            raise InputTypeError(
                "FindLR: training_step must return the loss (a tensor, or a dict with "
                f"'loss'), got {out!r}"
            )
        return loss


class _Batches:
    """The train loader as ``((batch, index), None)`` items, re-iterable (so it cycles)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[tuple[tuple[Any, int], None]]:
        for index, batch in enumerate(self.loader):
            yield (batch, index), None


def _loss(out: torch.Tensor, _target: None) -> torch.Tensor:
    return out


@contextlib.contextmanager
def _muted(module: Any) -> Iterator[None]:
    """``self.log`` / ``self.log_dict`` do nothing (the sweep runs outside Lightning's loop,
    where logging from ``training_step`` would be refused)."""
    names = ("log", "log_dict")
    own = {n: module.__dict__[n] for n in names if n in module.__dict__}
    for n in names:
        object.__setattr__(module, n, lambda *args, **kwargs: None)
    try:
        yield
    finally:
        for n in names:
            if n in own:
                object.__setattr__(module, n, own[n])
            else:
                object.__delattr__(module, n)


class FindLR(pl.Callback):
    """The learning-rate range test, run when a fresh ``trainer.fit`` starts training.

    At ``on_train_start`` (the model, its optimizer and the train loader are set up)
    :func:`lrkit.find_lr` trains for ``steps`` updates of ``training_step`` while every
    param group's ``lr`` sweeps from ``start`` to ``end`` (``mode="exp"`` or ``"linear"``),
    records each batch's loss and reads the suggestions off the smoothed curve (the
    parameters mean what they mean there). Afterwards the model's weights and mode, the
    optimizer's state and the random number generators (torch, NumPy, Python) are
    restored, so the training that follows is the one it would have been without the
    callback. A fit resumed from a checkpoint (``global_step > 0``) skips it.

    * ``result`` is the :class:`~lrkit.experiment.lr_find.LRFindResult` (``None`` before),
      ``suggestion`` its chosen learning rate.
    * ``attr="lr"`` (a name on the LightningModule or in its ``hparams``) is set to the
      suggestion and the optimizers are built again (``configure_optimizers``), so the
      training uses it, e.g. as the peak of an lrkit schedule.
    * ``plot="lr_find.png"`` writes the range test's figure
      (:func:`lrkit.experiment.plot_lr_find`).

    The sweep's updates are plain PyTorch steps (``training_step``, ``backward``,
    ``optimizer.step``, under the trainer's precision context; no gradient clipping) in
    one process, with one optimizer and automatic optimization; ``self.log`` in
    ``training_step`` is muted during them.

    >>> FindLR(steps=1)
    Traceback (most recent call last):
    ...
    lrkit.InputError: find_lr: steps must be an integer >= 2, got 1
    """

    def __init__(self, *, start: float = 1e-7, end: float = 10.0, steps: int = 100,
                 mode: str = "exp", smooth: float = 0.98, diverge: float = 4.0,
                 suggestion: str = "valley", attr: str | None = None,
                 plot: str | os.PathLike[str] | None = None) -> None:
        check_options(start, end, steps, mode, smooth, diverge, suggestion)
        if attr is not None and not (isinstance(attr, str) and attr):
            raise InputError(f"FindLR: attr must be None or an attribute name, got {attr!r}")
        if plot is not None and not isinstance(plot, (str, os.PathLike)):
            raise InputTypeError(f"FindLR: plot must be None or a file path, got {plot!r}")
        self.options: dict[str, Any] = {"start": start, "end": end, "steps": steps, "mode": mode,
                        "smooth": smooth, "diverge": diverge, "suggestion": suggestion}
        self.attr = attr
        self.plot = plot
        self.result: LRFindResult | None = None

    @property
    def suggestion(self) -> float | None:
        """The suggested learning rate (``None`` before the range test ran)."""
        return None if self.result is None else self.result.suggestion

    def _refuse(self, trainer: Any, pl_module: Any) -> None:
        why = []
        if len(trainer.optimizers) != 1:
            why.append(f"one optimizer (configure_optimizers gave {len(trainer.optimizers)})")
        if not pl_module.automatic_optimization:
            why.append("automatic optimization")
        if trainer.accumulate_grad_batches != 1:
            why.append(f"accumulate_grad_batches=1 (got {trainer.accumulate_grad_batches})")
        if trainer.world_size != 1:
            why.append(f"one process (world_size is {trainer.world_size})")
        if trainer.train_dataloader is None:
            why.append("a train dataloader")
        if why:
            raise InputError("FindLR: the range test needs " + ", ".join(why)
                             + "; run it in a Trainer that has them")
        if self.attr is not None and not lightning_hasattr(pl_module, self.attr):
            raise InputError(
                f"FindLR: attr={self.attr!r} is neither an attribute of "
                f"{type(pl_module).__name__} nor a key of its hparams")

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if trainer.global_step > 0:
            return
        self._refuse(trainer, pl_module)
        step = _TrainingStep(trainer, pl_module)
        with isolate_rng(), _muted(pl_module):
            self.result = find_lr(step, trainer.optimizers[0], _loss,
                                  _Batches(trainer.train_dataloader), **self.options)
        if self.plot is not None:
            plot_lr_find(self.result, os.fspath(self.plot))
        if self.attr is not None:
            lr = self.result.suggestion
            if not (math.isfinite(lr) and lr > 0):
                raise InputError(
                    f"FindLR: the range test gave no suggestion ({lr!r}: the loss was not "
                    f"finite from the first steps), so {self.attr!r} cannot be set; lower "
                    f"start={self.options['start']!r} or look at FindLR.result")
            lightning_setattr(pl_module, self.attr, lr)
            trainer.strategy.setup_optimizers(trainer)
