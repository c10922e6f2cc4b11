"""The grid: candidates x peaks x seeds as planned runs, their keys, chunks, and growth.

A :class:`Planned` run is identified by :func:`run_key`, a hash of the recipe,
the training settings (:class:`Training`), the exact schedule and the seed;
never the label, so renaming a schedule reuses its runs. :func:`chunked` cuts
the grid into the batches trained together, depending only on the grid, so a
resumed comparison trains every run in the same batch as an uninterrupted one.
:func:`extend_peaks` is how ``--peaks auto`` grows the grid past its edges.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..schedule import Schedule
from .candidates import Candidate, round_sig
from .options import seeds_of
from .recipe import (
    BATCH_SIZE,
    DEVICE,
    EPS,
    EXTEND_FACTOR,
    MOMENTUM,
    NESTEROV,
    OPTIMIZER,
    RECIPE,
    SF_WARMUP,
    WEIGHT_DECAY,
)


@dataclass(frozen=True)
class Training:
    """How every run of the grid trains (the trainer's keyword arguments). Every field but
    ``device`` is part of the run key (:meth:`settings`)."""

    steps: int
    batch_size: int = BATCH_SIZE
    optimizer: str = OPTIMIZER
    momentum: float = MOMENTUM
    nesterov: bool = NESTEROV
    weight_decay: float = WEIGHT_DECAY
    betas: tuple[float, float] | None = None
    eps: float = EPS
    grad_clip: float | None = None
    eval_every: int | None = None
    device: str = DEVICE

    def kwargs(self) -> dict[str, Any]:
        """For :func:`~lrkit.experiment.trainer.train`."""
        return asdict(self)

    def settings(self) -> dict[str, Any]:
        """These settings, JSON-ready (``results.json``'s ``config`` starts with them)."""
        return {"steps": int(self.steps), "batch_size": int(self.batch_size),
                "optimizer": self.optimizer, "momentum": float(self.momentum),
                "nesterov": bool(self.nesterov), "weight_decay": float(self.weight_decay),
                "betas": None if self.betas is None else [float(b) for b in self.betas],
                "eps": float(self.eps),
                "grad_clip": None if self.grad_clip is None else float(self.grad_clip),
                "eval_every": None if self.eval_every is None else int(self.eval_every)}

    def config(self, task: str) -> dict[str, Any]:
        """What a run key hashes (and the store records): the task's identity and the
        settings."""
        return {"task": task, **self.settings()}


@dataclass(frozen=True)
class Planned:
    """One run of the grid; ``key`` identifies it in the store."""

    key: str
    label: str
    peak: float
    seed: int
    schedule: Schedule
    optimizer: str | None = None  # a baseline's optimizer (None: the comparison's)

    def record(self, task_name: str, config: dict[str, Any]) -> dict[str, Any]:
        """What the store keeps beside the run's result."""
        return {"key": self.key, "label": self.label, "schedule": repr(self.schedule),
                "peak": self.peak, "seed": self.seed, "task_name": task_name,
                **baseline_config(config, self.optimizer)}


def baseline_config(config: dict[str, Any], optimizer: str | None) -> dict[str, Any]:
    """The config of a baseline's runs: ``config`` with its optimizer (and a Schedule-Free
    one's warm-up fraction); ``config`` itself for a schedule.

    >>> baseline_config({"optimizer": "sgd"}, "sf-sgd")
    {'optimizer': 'sf-sgd', 'sf_warmup': 0.05}
    """
    if optimizer is None:
        return config
    extra = {"sf_warmup": SF_WARMUP} if optimizer.startswith("sf-") else {}
    return {**config, "optimizer": optimizer, **extra}


def run_key(config: dict[str, Any], schedule: Schedule, seed: int) -> str:
    """A stable key: a hash of the recipe, the training config, the schedule and the seed.

    The label is not part of it, so renaming a schedule reuses its runs.
    """
    blob = json.dumps(
        {"recipe": RECIPE, "config": config, "schedule": repr(schedule), "seed": int(seed)},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def plan(
    candidates: Sequence[Candidate], peaks: Sequence[float | None], seeds: Sequence[int],
    steps: int, config: dict[str, Any],
) -> list[Planned]:
    """The grid, seed-major (seed, then schedule, then peak): a fixed order, hence fixed
    chunks. A peak of ``None`` (``--peaks spec``) runs the schedule as written; its
    ``peak`` is then the schedule's largest value. A baseline's ``peak`` is its rate."""
    out = []
    for seed in seeds:
        for c in candidates:
            cfg = baseline_config(config, c.optimizer)
            for p in peaks:
                s = c.at(steps, p)
                rate = c.rate(p)
                peak = float(rate) if rate is not None else float(np.max(s.values(steps)))
                out.append(Planned(run_key(cfg, s, seed), c.label, peak, int(seed), s,
                                   c.optimizer))
    return out


def chunked(runs: Sequence[Planned], size: int) -> list[list[Planned]]:
    """Consecutive chunks of ``size`` distinct runs (duplicates of a key are run once).

    Chunks depend only on the grid and ``size``, never on ``--jobs`` or on what is
    already stored, so a resumed run trains every run in the same batch as an
    uninterrupted one.
    """
    if size < 1:
        raise InputError(f"chunk size must be >= 1, got {size!r}")
    uniq = list({r.key: r for r in runs}.values())
    return [uniq[i:i + size] for i in range(0, len(uniq), size)]


def extend_peaks(best: Iterable[float], peaks: Sequence[float | None]) -> list[float]:
    """``--peaks auto``'s extension: if some schedule's best peak (``best``) is the largest
    (smallest) peak tried, the next one up (down) by ``EXTEND_FACTOR``, for every schedule
    alike.

    >>> extend_peaks([0.3, 0.1], [0.075, 0.15, 0.3])
    [0.6]
    """
    vals = sorted(p for p in peaks if p is not None)
    if len(vals) < 2:
        return []
    best = set(best)
    new = []
    if vals[-1] in best:
        new.append(round_sig(vals[-1] * EXTEND_FACTOR))
    if vals[0] in best:
        new.append(round_sig(vals[0] / EXTEND_FACTOR))
    return new


def parse_seeds(seeds: int | str | Sequence[int]) -> list[int]:
    """``3`` or ``"3"`` -> ``[0, 1, 2]``; ``"0,4,7"`` or ``[0, 4, 7]`` -> those seeds; the
    limits are :func:`lrkit.experiment.options.seeds_of`'s.

    >>> parse_seeds("3"), parse_seeds("0,4,7")
    ([0, 1, 2], [0, 4, 7])
    """
    return seeds_of(seeds)
