"""Lightning's side of :mod:`lrkit.torch`: the callback behind
:func:`lrkit.torch.plateau_callback` (importing this module imports Lightning)."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from ..errors import InputError


class PlateauCallback(pl.Callback):
    """Feeds ``trainer.callback_metrics[monitor]`` to every lrkit ``Scheduler`` (``kind``)
    with a plateau factor after each validation run (see :func:`lrkit.torch.plateau_callback`)."""

    def __init__(self, monitor: str, *, strict: bool = True, kind: type[Any]) -> None:
        self.monitor = monitor
        self.strict = strict
        self.kind = kind

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if trainer.sanity_checking:
            return
        scheds: list[Any] = [c.scheduler for c in trainer.lr_scheduler_configs
                  if isinstance(c.scheduler, self.kind) and c.scheduler.has_plateau]
        if not scheds:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            if self.strict:
                raise InputError(
                    f"plateau_callback: monitor={self.monitor!r} is not among the logged "
                    f"metrics {sorted(trainer.callback_metrics)}"
                )
            return
        for s in scheds:
            s.observe(value)
