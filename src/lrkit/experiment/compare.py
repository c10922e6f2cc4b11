"""``lrkit compare``: train one task under several schedules, fairly, and rank them.

The grid is *schedules x peaks x seeds*. Every schedule is a **shape** over
the run's total number of optimizer steps ``N``, rescaled so that its largest
value over ``t = 0 .. N-1`` equals the peak being tried
(:mod:`~lrkit.experiment.candidates`). Every schedule gets the same tuning
budget (the same peaks and the same seeds) and is reported at its **best
peak**, the peak with the lowest mean final validation loss over the seeds;
schedules are ranked by that mean (:mod:`~lrkit.experiment.summary`).

**Baselines** (``-s sf-sgd``, ``-s sf-adamw``, ``-s prodigy``) are optimizers at a
constant rate, not schedules: each is tried at the same factors around its own
centre (Prodigy's multiplier 1; a Schedule-Free optimizer's own range test) as the
schedules around theirs, ``rate = round_sig(centre * peak / middle)`` (the factor exact:
see :class:`~lrkit.experiment.candidates.Candidate`), ``middle`` the range test's
suggestion (``--peaks auto``) or the given peaks' geometric middle; the extension
treats them alike (:mod:`~lrkit.experiment.baselines`).

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
from dataclasses import dataclass, field, replace
from typing import Any

from .._check import integer
from .._version import __version__
from ..errors import InputError
from .candidates import Candidate, parse_candidates, parse_peaks, round_sig
from .floats import json_float
from .grid import Planned, Training, baseline_config, chunked, extend_peaks, parse_seeds, plan
from .lr_find import LRFindResult
from .options import check_compare, check_nesterov
from .progress import Progress, Silent, per_run, steps_progress
from .recipe import (
    BASELINE_CENTRES,
    CHUNK,
    DEFINITIONS,
    EPOCHS,
    EXTEND_FACTOR,
    JOBS,
    MAX_EXTEND,
    OUT,
    PEAKS,
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
from .verdict import judge_rows


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
    peaks: str = PEAKS
    method: str | None = None  # the range test's suggestion rule; None: RANGE_TEST's
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
    jobs: int = JOBS
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
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> centre
    version: str = __version__
    verdict: dict[str, Any] = field(default_factory=dict)  # verdict.judge's; {} before judging

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
            "verdict": self.verdict,
            "baselines": self.baselines,
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
    method: str | None = None  # the range test's rule (None: RANGE_TEST's)


_WHO = "lrkit compare"


def _inputs(o: Options) -> _Inputs:
    check_compare(o)  # every option alone first: nothing loaded, allocated or stored yet
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
                   training, training.config(ident), spe, _target(o, task.metric), o.method)


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
    check_nesterov(o.nesterov, st["optimizer"], st["momentum"])
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
    url = o.storage if o.storage is not None else default_storage(o.out)  # --out: made by _inputs
    store = Store(url, o.study or STUDY)
    clock.lap("setup")
    pool = make_pool(inp.jobs, inp.ref.preload()) if inp.jobs > 1 else None
    lr_find, lr_find_seeds = None, []
    try:
        peaks: list[float | None]
        if inp.mode == "auto":
            keras = getattr(inp.task, "framework", "torch") == "keras"  # one seed
            lr_find_seeds = inp.seeds[:1 if keras else RANGE_TEST_SEEDS]
            with user_code(inp.ref):
                lr_find = range_test(inp.task, inp.config, lr_find_seeds, store, progress,
                                     inp.method)
            peaks = [round_sig(lr_find.suggestion * f) for f in inp.factors]
            clock.lap("range test")
        else:
            peaks = list(inp.factors) if inp.mode == "fixed" else [None]
        cands, baselines = _centre_baselines(inp, peaks, lr_find, store, progress)
        inp = replace(inp, candidates=cands)
        if baselines:
            clock.lap("range test")
        planned, peaks, extensions = _train(inp, peaks, store, url, pool, progress, clock)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    labels = [c.label for c in inp.candidates]
    rows, verdict = summary_of(inp, planned, store.load(), labels)
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
        runs=len(planned), timing=clock.laps, verdict=verdict, baselines=baselines,
    )


def summary_of(inp: _Inputs, planned: Sequence[Planned], stored: dict[str, Result],
               labels: Sequence[str]) -> tuple[list[Row], dict[str, Any]]:
    """The ranked rows of the stored runs among ``planned`` and the verdict on them
    (:func:`~lrkit.experiment.verdict.judge_rows`: is there a winner?)."""
    have = [p for p in planned if p.key in stored]
    rows = summarize(have, stored, labels, inp.target)
    verdict = judge_rows(rows, inp.task, [{**stored[p.key], "seed": p.seed} for p in have])
    return rows, verdict


def _centre_baselines(inp: _Inputs, peaks: Sequence[float | None], lr_find: LRFindResult | None,
                      store: Store, progress: Progress
                      ) -> tuple[list[Candidate], dict[str, dict[str, Any]]]:
    """The candidates with every baseline's grid put around its own centre (see the module
    docstring), and per baseline label its optimizer, centre and the grid's middle."""
    if not any(c.optimizer for c in inp.candidates):
        return inp.candidates, {}
    vals = [p for p in peaks if p is not None]
    middle = lr_find.suggestion if lr_find is not None else math.exp(
        sum(math.log(p) for p in vals) / len(vals))
    # the exact factors the grid's peaks stand for, extensions included
    factors = tuple(sorted({f * EXTEND_FACTOR ** k for f in (
        inp.factors if lr_find is not None else [p / middle for p in vals])
        for k in range(-MAX_EXTEND, MAX_EXTEND + 1)}))
    out, info = [], {}
    for c in inp.candidates:
        if c.optimizer is None:
            out.append(c)
            continue
        centre = BASELINE_CENTRES[c.optimizer]
        if centre is None:  # its own range test, kept in the study like the schedules'
            with user_code(inp.ref):
                centre = range_test(inp.task, baseline_config(inp.config, c.optimizer),
                                    inp.seeds[:RANGE_TEST_SEEDS], store, progress).suggestion
        centre = round_sig(centre)
        out.append(replace(c, centre=centre, middle=middle, factors=factors))
        info[c.label] = {"optimizer": c.optimizer, "centre": centre, "middle": middle}
    return out, info


def _train(inp: _Inputs, peaks: list[float | None], store: Store, url: str, pool: Any,
           progress: Progress, clock: _Clock) -> tuple[list[Planned], list[float | None], int]:
    """Train the grid at ``peaks``, then at the peaks ``--peaks auto`` adds, storing every
    chunk in one transaction as soon as it is done, before it counts (and is noted).
    Returns the planned runs, every peak tried and the number of extensions."""
    done = store.load()
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
            new = list(next_peaks(inp, planned, done, peaks))
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


def next_peaks(inp: _Inputs, planned: Sequence[Planned], done: dict[str, Result],
               peaks: Sequence[float | None]) -> list[float | None]:
    """``--peaks auto`` after a stage: the peaks to add beyond the grid's edges (none when
    no schedule's best peak is at an edge; see :func:`~lrkit.experiment.grid.extend_peaks`).
    A baseline's best rate is read back as the grid peak it was tried at."""
    labels = [c.label for c in inp.candidates]
    rows = summarize(planned, done, labels, inp.target)
    grid_peak = {(c.label, c.rate(p)): p for c in inp.candidates for p in peaks
                 if p is not None}
    return list(extend_peaks((grid_peak.get((r.label, r.best_peak), r.best_peak)
                              for r in rows), peaks))


def range_test(task: Any, config: dict[str, Any], seeds: Sequence[int], store: Store,
               progress: Progress, method: str | None = None) -> LRFindResult:
    """The range test for ``--peaks auto`` (``RANGE_TEST``, its suggestion rule ``method``
    if given), run once per task and training config and kept in the study (a rerun
    reuses it, so a resumed comparison tries the same peaks; another ``method`` picks
    again from the same sweep)."""
    method = RANGE_TEST["suggestion"] if method is None else method
    seeds = list(seeds)
    res = cached_range_test(config, seeds, store)
    if res is None:
        sweep = {k: v for k, v in RANGE_TEST.items() if k != "suggestion"}
        if getattr(task, "framework", "torch") == "keras":  # lrkit.keras.find_lr, first seed
            from .keras_task import range_test as keras_range_test

            res = keras_range_test(task, seeds[0], config["batch_size"],
                                   **{**sweep, "suggestion": method})
        else:
            from .lr_find import find_lr_task

            res = find_lr_task(task, seeds=seeds, batch_size=config["batch_size"],
                               optimizer=config["optimizer"], momentum=config["momentum"],
                               nesterov=config["nesterov"], weight_decay=config["weight_decay"],
                               progress=steps_progress(progress, "range test"),
                               **{**sweep, "suggestion": method})
        store.set_note(_lr_find_note(config, seeds), {**res.to_dict(), "seeds": seeds})
    res = res.choose(method)
    if not (math.isfinite(res.suggestion) and res.suggestion > 0):
        raise InputError(f"the range test found no usable learning rate (got "
                         f"{res.suggestion!r}); give --peaks explicitly")
    return res


def _lr_find_note(config: dict[str, Any], seeds: Sequence[int]) -> str:
    """The study note that keeps the range test of ``config`` and ``seeds``."""
    setup = {k: v for k, v in config.items() if k != "steps"}  # the sweep has its own length
    sweep = {k: v for k, v in RANGE_TEST.items() if k != "suggestion"}
    return "lr_find:" + hashlib.sha256(json.dumps(
        {"config": setup, "seeds": list(seeds), "recipe": RECIPE, "sweep": sweep},
        sort_keys=True).encode()).hexdigest()[:16]


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
