"""``lrkit compare``: train one task under several schedules, fairly, and rank them.

The grid is *schedules x peaks x seeds*. Every schedule is a **shape** over
the run's total number of optimizer steps ``N``, rescaled so that its largest
value over ``t = 0 .. N-1`` equals the peak being tried
(:mod:`~lrkit.experiment.candidates`). Every schedule gets the same tuning
budget (the same peaks and the same seeds) and is reported at its **best
peak**, the peak with the lowest mean final validation loss over the seeds;
schedules are ranked by that mean (:mod:`~lrkit.experiment.summary`).

``--peaks auto`` tries the range test's suggestion times ``AUTO_FACTORS``
(1/4 ... 4); while some schedule's best peak is the largest (smallest) peak
tried, the next peak up (down) by ``EXTEND_FACTOR`` (2) is added for every
schedule, at most ``MAX_EXTEND`` times (:func:`~lrkit.experiment.grid.extend_peaks`).
The constants and the default shapes are in :mod:`~lrkit.experiment.recipe`.

This module only orchestrates, in this order: check every input
(:class:`Options`), open the store, run the range test (kept in the study, so
a rerun reuses it), plan the grid and train what the store does not hold yet,
chunk by chunk (:mod:`~lrkit.experiment.runner`), each chunk stored as soon as
it is done, extend the peaks, and summarise what the store holds into a
:class:`CompareResult`. Importing it is light (NumPy); torch is imported when
:func:`run_compare` runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._check import integer
from .._version import __version__
from ..errors import InputError
from .candidates import Candidate, parse_candidates, parse_peaks, round_sig
from .floats import json_float
from .grid import Planned, Training, chunked, extend_peaks, parse_seeds, plan
from .lr_find import LRFindResult
from .progress import Progress, Silent, per_run, steps_progress
from .recipe import (
    CHUNK,
    DEFINITIONS,
    EPOCHS,
    MAX_EXTEND,
    OUT,
    RANGE_TEST,
    RANGE_TEST_SEEDS,
    RECIPE,
    SEEDS,
    STUDY,
    TARGET_ACC,
    TRAINING,
)
from .runner import TaskRef, make_pool, run_grid, user_code
from .store import Result, Store
from .summary import Row, summarize


@dataclass
class Options:
    """Everything ``lrkit compare`` takes (the CLI's options, one to one; the CLI reads
    its defaults from here)."""

    task: str | None = None
    data: str | None = None
    target: str | None = None
    schedules: Sequence[str] = ()
    epochs: int | None = None  # None: the task's length, else EPOCHS, unless steps is given
    steps: int | None = None
    # a training setting left None is the task's (Task.recipe), else recipe.TRAINING's
    seeds: int | str | Sequence[int] | None = None  # None: the task's, else SEEDS
    peaks: str = "auto"
    batch_size: int | None = None
    optimizer: str | None = None
    momentum: float | None = None
    nesterov: bool | None = None
    weight_decay: float | None = None
    betas: tuple[float, float] | None = None
    eps: float | None = None
    grad_clip: float | None = None
    eval_every: int | None = None
    device: str | None = None
    jobs: int = 1
    chunk_size: int = CHUNK
    out: str = OUT
    storage: str | None = None  # None: default_storage(out)
    study: str | None = None  # None: STUDY, or a hash of the grid (distributed.default_study)
    target_acc: float | None = None
    target_loss: float | None = None
    command: str | None = None


@dataclass
class CompareResult:
    """What :func:`run_compare` found. :meth:`to_dict` is ``results.json``; ``lr_find``
    (the range test's whole curve, for ``lr_find.png``) and ``timing`` (wall seconds
    per phase) are there for the caller."""

    command: str | None
    task: dict[str, Any]  # name, description, loss, metric, id
    training: Training
    steps_per_epoch: int
    seeds: list[int]
    peak_mode: str  # "auto" | "fixed" | "spec"
    peaks: list[float]  # every peak tried, sorted ([] with --peaks spec)
    peak_extensions: int
    chunk_size: int
    study: str
    target: dict[str, float] | None
    rows: list[Row]  # ranked
    order: list[str]  # the labels in the user's order
    lr_find: LRFindResult | None = None
    lr_find_seeds: list[int] = field(default_factory=list)
    runs: int = 0  # planned runs (duplicates included)
    missing: int = 0  # planned runs not stored yet (a report of a comparison under way)
    complete: bool = True  # False: the comparison is still under way
    timing: dict[str, float] = field(default_factory=dict)
    version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        """The report dict, ``results.json`` (standard JSON: ``None`` for non-finite)."""
        lf = self.lr_find
        under_way = {} if self.complete else {"complete": False, "missing": self.missing}
        return {**under_way,
            "lrkit": self.version,
            "command": self.command,
            "task": self.task,
            "config": {**self.training.settings(),
                       "epochs": self.training.steps / self.steps_per_epoch,
                       "steps_per_epoch": self.steps_per_epoch, "seeds": self.seeds,
                       "peak_mode": self.peak_mode, "peaks": self.peaks,
                       "peak_extensions": self.peak_extensions,
                       "chunk_size": self.chunk_size, "study": self.study},
            "target": self.target,
            "lr_find": None if lf is None else {
                "suggestion": lf.suggestion, "method": lf.method,
                "suggestions": {k: json_float(v) for k, v in lf.suggestions.items()},
                "seeds": self.lr_find_seeds},
            "definitions": dict(DEFINITIONS),
            "order": self.order,
            "schedules": [r.to_dict() for r in self.rows],
        }


def default_storage(out: str) -> str:
    """``sqlite:///<out>/lrkit.db`` with an absolute path."""
    return "sqlite:///" + os.path.abspath(os.path.join(out, "lrkit.db"))


def run_compare(o: Options, progress: Progress | None = None) -> CompareResult:
    """Run (or resume) the comparison; see the module docstring. Torch runs on one thread
    meanwhile: the models are small, and one thread makes results independent of
    ``--jobs`` and of how busy the machine is (more threads only spin)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_compare(o, progress or Silent())
    finally:
        torch.set_num_threads(threads)


# -- 1. every input, before anything is stored ------------------------------------------------


@dataclass(frozen=True)
class _Inputs:
    mode: str
    factors: tuple[float, ...]
    candidates: list[Candidate]
    seeds: list[int]
    jobs: int
    chunk: int
    ref: TaskRef
    task: Any
    training: Training
    config: dict[str, Any]
    steps_per_epoch: int
    target: dict[str, float] | None


_WHO = "lrkit compare"


def _inputs(o: Options) -> _Inputs:
    mode, factors = parse_peaks(o.peaks)
    cands = parse_candidates(list(o.schedules), rescale=mode != "spec")
    jobs = integer(_WHO, "--jobs", o.jobs)
    chunk = integer(_WHO, "--chunk-size", o.chunk_size)
    if o.epochs is not None and o.steps is not None:
        raise InputError("give --epochs or --steps, not both")
    ref = TaskRef.of(o.task, o.data, o.target)
    task = ref.load()
    st = _settings(o, task)
    seeds = parse_seeds(o.seeds if o.seeds is not None else task.recipe.get("seeds", SEEDS))
    from .trainer import steps_per_epoch

    spe = steps_per_epoch(task, st["batch_size"])
    if o.steps is not None:
        n = integer(_WHO, "--steps", o.steps)
    elif o.epochs is None and "steps" in task.recipe:
        n = integer(_WHO, "--steps", task.recipe["steps"])
    else:
        n = integer(_WHO, "--epochs", o.epochs if o.epochs is not None
                    else task.recipe.get("epochs", EPOCHS)) * spe
    for c in cands:  # a spec that does not fit N fails now, before anything is stored
        c.at(n, None if mode == "spec" else 1.0)
    training = Training(n, **st)
    ident = f"{ref.ident()}:{task.fingerprint()}"  # a changed task never reuses old runs
    return _Inputs(mode, factors, cands, seeds, jobs, chunk, ref, task.with_recipe(**st),
                   training, training.config(ident), spe, _target(o, task.metric))


def _settings(o: Options, task: Any) -> dict[str, Any]:
    """The training settings: the options given, else the task's, else lrkit's; checked."""
    from .trainer import check_device, check_optimizer

    st = {k: task.setting(k, getattr(o, k)) for k in TRAINING}
    check_device(st["device"])
    st["batch_size"] = integer(_WHO, "--batch-size", st["batch_size"])
    if st["eval_every"] is not None:
        st["eval_every"] = integer(_WHO, "--eval-every", st["eval_every"])
    if st["betas"] is not None:
        st["betas"] = tuple(float(b) for b in st["betas"])
    check_optimizer(st["optimizer"], st["momentum"], st["weight_decay"], st["betas"],
                    st["eps"], st["grad_clip"])
    return st


def _target(o: Options, metric: str | None) -> dict[str, float] | None:
    if o.target_acc is not None and not 0 < o.target_acc <= 1:
        raise InputError(f"--target-acc must be in (0, 1], got {o.target_acc!r}")
    if o.target_acc is not None and metric != "accuracy":
        raise InputError("--target-acc needs a classification task (use --target-loss)")
    if o.target_loss is not None and not (math.isfinite(o.target_loss)):
        raise InputError(f"--target-loss must be a finite number, got {o.target_loss!r}")
    if o.target_acc is None and o.target_loss is None:
        return {"acc": TARGET_ACC} if metric == "accuracy" else None
    t: dict[str, float] = {}
    if o.target_acc is not None:
        t["acc"] = float(o.target_acc)
    if o.target_loss is not None:
        t["loss"] = float(o.target_loss)
    return t


# -- 2. the comparison ---------------------------------------------------------------------


def _run_compare(o: Options, progress: Progress) -> CompareResult:
    clock = _Clock()
    inp = _inputs(o)
    url = o.storage
    if url is None:
        os.makedirs(o.out, exist_ok=True)
        url = default_storage(o.out)
    store = Store(url, o.study or STUDY)
    clock.lap("setup")
    pool = make_pool(inp.jobs, inp.ref.preload()) if inp.jobs > 1 else None
    lr_find, lr_find_seeds = None, []
    try:
        peaks: list[float | None]
        if inp.mode == "auto":
            lr_find_seeds = inp.seeds[:RANGE_TEST_SEEDS]
            with user_code(inp.ref):
                lr_find = range_test(inp.task, inp.config, lr_find_seeds, store, progress)
            peaks = [round_sig(lr_find.suggestion * f) for f in inp.factors]
            clock.lap("range test")
        else:
            peaks = list(inp.factors) if inp.mode == "fixed" else [None]
        planned, peaks, extensions = _train(inp, peaks, store, url, pool, progress, clock)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    labels = [c.label for c in inp.candidates]
    rows = summarize(planned, store.load(), labels, inp.target)
    clock.lap("summary")
    t = inp.task
    return CompareResult(
        command=o.command,
        task={"name": t.name, "description": t.description, "loss": t.loss,
              "metric": t.metric, "id": inp.config["task"]},
        training=inp.training, steps_per_epoch=inp.steps_per_epoch, seeds=inp.seeds,
        peak_mode=inp.mode, peaks=sorted(p for p in peaks if p is not None),
        peak_extensions=extensions, chunk_size=inp.chunk, study=o.study or STUDY, target=inp.target,
        rows=rows, order=labels, lr_find=lr_find, lr_find_seeds=lr_find_seeds,
        runs=len(planned), timing=clock.laps,
    )


def _train(inp: _Inputs, peaks: list[float | None], store: Store, url: str, pool: Any,
           progress: Progress, clock: _Clock) -> tuple[list[Planned], list[float | None], int]:
    """Train the grid at ``peaks``, then at the peaks ``--peaks auto`` adds, storing every
    chunk in one transaction as soon as it is done, before it counts (and is noted).
    Returns the planned runs, every peak tried and the number of extensions."""
    done = store.load()
    labels = [c.label for c in inp.candidates]
    planned: list[Planned] = []
    n = inp.training.steps
    peaks = list(peaks)
    stage, new = 0, list(peaks)

    def on_done(runs: Sequence[Planned], results: list[Result]) -> None:
        fresh = [(p, res) for p, res in zip(runs, results) if p.key not in done]
        store.put_many([(p.record(inp.task.name, inp.config), res) for p, res in fresh])
        for p, res in fresh:  # counted only once durable
            done[p.key] = res
        progress.note(stored_line(len(runs), len(fresh), len(done)))

    while new:
        grid = plan(inp.candidates, new, inp.seeds, n, inp.config)
        planned += grid
        todo = [c for c in chunked(grid, inp.chunk) if any(p.key not in done for p in c)]
        keys = {p.key for p in grid}
        if stored := len(keys & set(done)):
            at = f"at peaks {_peaks_text(new)} " if stage else ""
            progress.note(f"resuming: {stored} of {len(keys)} runs {at}already stored in {url}")
        name = "training" if stage == 0 else f"peak {_peaks_text(new)}"
        advance = per_run(progress.phase(name, sum(len(c) for c in todo)), n)
        with user_code(inp.ref):
            run_grid(inp.ref, todo, inp.training.kwargs(), on_done, jobs=inp.jobs,
                     progress=advance, pool=pool)
        stage += 1
        new = []
        if inp.mode == "auto" and stage <= MAX_EXTEND:
            rows = summarize(planned, done, labels, inp.target)
            new = list(extend_peaks((r.best_peak for r in rows), peaks))
            peaks += new
    clock.lap("training")
    return planned, peaks, stage - 1


def stored_line(trained: int, new: int, where: int | str) -> str:
    """The note after a chunk is durable in the store: ``stored R runs (T in the store)``
    (or ``(chunk ID)``), or ``stored R of K runs`` when some of the chunk were stored
    already (by another worker).

    >>> stored_line(35, 35, 70), stored_line(35, 30, "chunk c0.3")
    ('stored 35 runs (70 in the store)', 'stored 30 of 35 runs (chunk c0.3)')
    """
    what = f"{new} runs" if new == trained else f"{new} of {trained} runs"
    return f"stored {what} ({where if isinstance(where, str) else f'{where} in the store'})"


def range_test(task: Any, config: dict[str, Any], seeds: Sequence[int], store: Store,
               progress: Progress) -> LRFindResult:
    """The range test for ``--peaks auto`` (``RANGE_TEST``), run once per task and
    training config and kept in the study (a rerun reuses it, so a resumed comparison
    tries the same peaks)."""
    seeds = list(seeds)
    cached = cached_range_test(config, seeds, store)
    if cached is not None:
        return cached
    from .lr_find import find_lr_task

    res = find_lr_task(task, seeds=seeds, batch_size=config["batch_size"],
                       optimizer=config["optimizer"], momentum=config["momentum"],
                       nesterov=config["nesterov"], weight_decay=config["weight_decay"],
                       progress=steps_progress(progress, "range test"), **RANGE_TEST)
    if not (math.isfinite(res.suggestion) and res.suggestion > 0):
        raise InputError(f"the range test found no usable learning rate (got "
                         f"{res.suggestion!r}); give --peaks explicitly")
    store.set_note(_lr_find_note(config, seeds), {**res.to_dict(), "seeds": seeds})
    return res


def _lr_find_note(config: dict[str, Any], seeds: Sequence[int]) -> str:
    setup = {k: v for k, v in config.items() if k != "steps"}  # the sweep has its own length
    return "lr_find:" + hashlib.sha256(json.dumps(
        {"config": setup, "seeds": list(seeds), "recipe": RECIPE}, sort_keys=True).encode()
    ).hexdigest()[:16]


def cached_range_test(config: dict[str, Any], seeds: Sequence[int],
                      store: Store) -> LRFindResult | None:
    """The range test kept in the study for this config and seeds, or ``None``."""
    cached = store.get_note(_lr_find_note(config, seeds))
    if isinstance(cached, dict) and "suggestion" in cached:
        return LRFindResult.from_dict(cached)
    return None


class _Clock:
    """Wall-time laps: ``lap(name)`` books the time since the last lap under ``name``."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        t = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + t - self.last
        self.last = t


def _peaks_text(peaks: Sequence[float | None]) -> str:
    return ", ".join(f"{p:.3g}" for p in peaks if p is not None)
