"""``lrkit tune``: search schedule shapes and the peak with Optuna, batched, on many workers.

Each Optuna trial is one schedule of a family (:mod:`~lrkit.experiment.families`):
its shape parameters and its ``peak`` are the trial's params (readable in
``optuna-dashboard`` and ``study.trials_dataframe()``), its value is the mean
over the seeds of the final validation loss (``inf`` when any seed diverged, as
compare's "a peak where any seed diverged never wins"), and the user attribute
``"lrkit"`` holds the rest: the spec (``repr`` of the schedule, so ``lrkit compare
"SPEC" --peaks spec`` trains it again), the per-seed losses and curves, the 95 %
interval over seeds and the worker that trained it.

**Batched.** A worker asks ``batch`` trials at once (TPE with the constant liar, so
trials of one batch differ), trains ``batch x seeds`` runs as one batched model
(:func:`~lrkit.experiment.runner.train_chunk`, every trial on the same seeds:
paired, as in compare) and tells the results. The TPE sampler of a trial is seeded
with ``(seed, trial number)``: one worker's search is reproducible, and two workers
never draw alike.

**Many workers.** Workers started anywhere with the same ``--storage/--study`` share
the search: ``study.ask()`` claims a trial atomically (a new row, or a WAITING trial
taken with ``SELECT ... FOR UPDATE`` on PostgreSQL), so no trial is trained twice.
On RDB storage every claimed trial gets a heartbeat (``heartbeat_interval`` s, a
thread of this worker); a worker that dies stops beating, and after ``grace_period``
s the next worker's :func:`optuna.storages.fail_stale_trials` fails its trials and
enqueues each again with the same params (``RetryHeartbeatStaleTrialCallback``),
which the next ``ask`` claims. Finished trials are never retrained: the search goes
on until the study holds ``trials`` COMPLETE trials (a few more when workers ask at
the same moment: each is still trained once). Journal storage has no heartbeat in
Optuna: a dead worker's trials stay RUNNING there (and are not counted).

**Fair to late decay.** There is no pruner: a batch trains all its runs to the end
in one model, so stopping a run early saves nothing, and a pruner on the raw loss
would kill schedules that stay high and decay late (WSD) before their decay.

The study records the search's setup (task, training, seeds, family, peak range) in
the study attribute ``"lrkit-tune"``; a worker with a different setup is refused
with a message saying what differs, so two searches never mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from .._check import integer
from .._version import __version__
from ..errors import InputError
from ..schedule import Schedule
from .candidates import round_sig
from .compare import Options, _inputs, range_test
from .families import FAMILY, Family, Param, get_family
from .floats import json_float
from .grid import Planned
from .progress import Progress, Silent, per_run
from .recipe import CHUNK, HEARTBEAT, OUT, RANGE_TEST_SEEDS, TRIALS
from .runner import make_pool, run_grid, user_code
from .stats import mean_ci
from .storage import kind, open_storage, shown_url, why
from .store import Result, Store

#: the study attribute holding the search's setup
SETUP = "lrkit-tune"
#: the trial attribute holding a trial's result
ATTR = "lrkit"
#: ``--peaks auto``: the range test's suggestion divided and multiplied by this (the
#: widest range compare's ``--peaks auto`` reaches: 1/4 .. 4, extended x2 twice)
PEAK_SPAN = 16.0
#: a trial whose last heartbeat is older than this many heartbeat intervals is stale
GRACE_FACTOR = 3
#: a trial given up as stale is enqueued again at most this many times
MAX_RETRY = 3
#: the warm start: the default shapes at the centre (the range test's suggestion, else the
#: range's geometric middle) times these, rounded as compare rounds its peaks
START_FACTORS = (0.5, 1.0, 2.0)
#: tries to open a storage whose tables another worker is creating at the same moment
OPEN_TRIES = 5
#: seconds a worker waits, when the budget is claimed by others, before looking again
POLL = 1.0


@dataclass
class TuneOptions:
    """Everything ``lrkit tune`` takes (the CLI's options, one to one)."""

    #: the task and how to train it, as ``lrkit compare`` takes them (task, data, target,
    #: epochs/steps, seeds and the training settings; its grid options are not used)
    training: Options = field(default_factory=Options)
    family: str = FAMILY
    trials: int = TRIALS
    batch: int | None = None  # trials per batched model; None: CHUNK // seeds
    peaks: str = "auto"  # "auto" or "LO,HI"
    storage: str | None = None  # None: sqlite:///<out>/lrkit.db
    study: str | None = None  # None: derived from the setup
    out: str = OUT
    seed: int = 0
    jobs: int = 1  # batched models trained at once, on threads (as compare's --jobs)
    warm_start: bool = True  # start from the default compare shapes the family holds
    heartbeat: int = HEARTBEAT
    grace: int | None = None  # None: GRACE_FACTOR * heartbeat
    command: str | None = None


@dataclass(frozen=True)
class TrialResult:
    """One COMPLETE trial of the study."""

    number: int
    params: dict[str, Any]
    spec: str
    value: float  # mean final validation loss over seeds (inf: a seed diverged)
    ci: float | None
    losses: list[float | None]  # per seed, in the seeds' order
    diverged: int
    worker: str
    record: dict[str, Any] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "spec": self.spec, "params": self.params,
                "val_loss": {"mean": json_float(self.value), "ci": self.ci,
                             "n": sum(v is not None for v in self.losses)},
                "losses": self.losses, "diverged": self.diverged, "worker": self.worker}


@dataclass
class TuneResult:
    """What :func:`run_tune` found: every COMPLETE trial of the study, best first."""

    command: str | None
    study: str
    storage: str
    family: Family
    task: dict[str, Any]
    settings: dict[str, Any]
    seeds: list[int]
    peak_range: tuple[float, float]
    trials: list[TrialResult]
    trained_here: list[int]  # the trial numbers this worker trained
    task_args: str = ""  # the task and training options given, as CLI options
    worker: str = ""  # this worker: host:pid
    seconds: float = 0.0
    version: str = __version__

    @property
    def best(self) -> TrialResult:
        return self.trials[0]

    def rerun(self, t: TrialResult | None = None) -> str:
        """The ``lrkit compare`` command that trains trial ``t`` (the best) again."""
        t = t or self.best
        seeds = ",".join(map(str, self.seeds))
        return (f'lrkit compare "{t.spec}" --peaks spec --steps {self.settings["steps"]} '
                f"--seeds {seeds} {self.task_args}").rstrip()

    def to_dict(self) -> dict[str, Any]:
        """``results.json``."""
        return {"lrkit": self.version, "command": self.command, "study": self.study,
                "storage": shown_url(self.storage), "task": self.task,
                "config": {**self.settings, "seeds": self.seeds, "family": self.family.name,
                           "space": self.family.describe(),
                           "peak_range": list(self.peak_range)},
                "best": self.best.to_dict() if self.trials else None,
                "rerun": self.rerun() if self.trials else None,
                "trials": [t.to_dict() for t in self.trials],
                "this_worker": {"id": self.worker, "trained": self.trained_here}}


# -- the search --------------------------------------------------------------------------------


def prepare(o: TuneOptions) -> Search:
    """Check every input of ``o`` and load the task (nothing is opened or stored yet); bad
    input raises :class:`~lrkit.InputError`."""
    return Search(o)


def run_tune(o: TuneOptions | Search, progress: Progress | None = None) -> TuneResult:
    """Run (or join, or resume) the search (``o``: options, or :func:`prepare`'s result);
    see the module docstring. Torch runs on one thread, as in compare."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _quiet():
            search = o if isinstance(o, Search) else Search(o)
            return search.run(progress or Silent())
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's warnings about what lrkit does on purpose: heartbeats and their retry
    callback are "experimental" (since Optuna 2.9), and lrkit beats for the trials it
    claims itself (it asks and tells; there is no ``optimize()``)."""
    import warnings

    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        warnings.filterwarnings("ignore", "Heartbeat of storage is supposed to be used")
        yield


class Search:
    """One worker's part of a search: the checked inputs (:func:`prepare`), then
    :meth:`run`."""

    def __init__(self, o: TuneOptions) -> None:
        self.o = o
        self.family = get_family(o.family)
        self.trials = integer("lrkit tune", "--trials", o.trials)
        self.heartbeat = integer("lrkit tune", "--heartbeat", o.heartbeat)
        self.grace = integer("lrkit tune", "--grace", o.grace if o.grace is not None
                             else GRACE_FACTOR * self.heartbeat)
        self.seed = integer("lrkit tune", "--seed", o.seed, minimum=0)
        self.peak_mode = _parse_peak_range(o.peaks)
        from .options import check_out, study_name

        if o.study is not None:
            study_name(o.study)
        check_out(o.out, make=False)
        self.inp = _inputs(replace(o.training, schedules=["constant"], peaks="1"))
        self.jobs = integer("lrkit tune", "--jobs", o.jobs)
        self.batch = integer("lrkit tune", "--batch", o.batch if o.batch is not None
                             else max(1, CHUNK // len(self.inp.seeds)))
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.url = o.storage or _default_storage(o.out)
        setup = {"task": self.inp.config["task"], "training": self.inp.config,
                 "seeds": self.inp.seeds, "family": self.family.name,
                 "space": self.family.describe(), "peaks": o.peaks}
        self.setup = setup
        self.name = o.study or _study_name(self.inp.task.name, self.family.name, setup)
        with _quiet():
            self.study = self._open()
        self.have = self._check(self.study)

    # -- opening ---------------------------------------------------------------------------

    def _open(self) -> Any:
        import optuna

        for attempt in range(OPEN_TRIES):
            try:
                self.storage = open_storage(
                    self.url, self.heartbeat if self._rdb else None,
                    self.grace if self._rdb else None,
                    optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY))
                break
            except InputError as e:
                # workers started together on an empty database race to create Optuna's
                # tables; the loser sees "already exists" and opens them on a second try
                if attempt + 1 == OPEN_TRIES or not any(
                        w in str(e) for w in ("already exists", "duplicate key")):
                    raise
                time.sleep(0.2 * (attempt + 1))
        try:
            study = optuna.create_study(storage=self.storage, study_name=self.name,
                                        direction="minimize", load_if_exists=True)
        except Exception as e:  # noqa: BLE001 - a refusing database fails here too
            raise InputError(f"--storage {shown_url(self.url)!r}, study {self.name!r}: "
                             f"{why(e)}") from None
        return study

    @property
    def _rdb(self) -> bool:
        return kind(self.url) != "journal"

    def _check(self, study: Any) -> dict[str, Any] | None:
        """The study's setup (None: a new study); a different one is refused."""
        have = study.user_attrs.get(SETUP)
        if have is None and study.get_trials(deepcopy=False):
            raise InputError(f"study {self.name!r} in {shown_url(self.url)!r} holds "
                             "trials of something else than an lrkit tune search; "
                             "give another --study")
        if have is not None:
            diff = sorted(k for k in {**self.setup, **have} if k != "peak_range"
                          and _canon(have.get(k)) != _canon(self.setup.get(k)))
            if diff:
                raise InputError(
                    f"study {self.name!r} is a search with a different setup ("
                    + "; ".join(f"{k}: {_short(have.get(k))} there, {_short(self.setup.get(k))}"
                                f" here" for k in diff) + "); give another --study")
        return cast("dict[str, Any] | None", have)

    def _peak_range(self, study: Any) -> tuple[float, float]:
        """The peak range: the study's, else found (``--peaks auto``: the range test) and
        recorded with the setup."""
        # read again: another worker may have recorded the setup since prepare()
        have = self.have or self._check(study)
        self.created = False
        if have is not None:
            lo, hi = have["peak_range"]
            return float(lo), float(hi)
        if self.peak_mode is None:
            seeds = self.inp.seeds[:RANGE_TEST_SEEDS]
            with user_code(self.inp.ref):
                lf = range_test(self.inp.task, self.inp.config, seeds,
                                cast(Store, _Notes(study)), self.progress)
            lo, hi = round_sig(lf.suggestion / PEAK_SPAN), round_sig(lf.suggestion * PEAK_SPAN)
            self.centre = lf.suggestion
        else:
            lo, hi = self.peak_mode
            self.centre = math.sqrt(lo * hi)
        study.set_user_attr(SETUP, {**self.setup, "peak_range": [lo, hi]})
        self.created = True
        return lo, hi

    # -- the loop --------------------------------------------------------------------------

    def run(self, progress: Progress) -> TuneResult:
        """Open the study, claim and train batches until it holds the budget."""

        self.t0, self.progress = time.perf_counter(), progress
        study = self.study
        self.peaks = self._peak_range(study)
        space = [*self.family.params, Param("peak", "the largest learning rate",
                                            self.peaks[0], self.peaks[1], log=True)]
        trained: list[int] = []
        self._warm_start(study)
        self.pool = make_pool(self.jobs) if self.jobs > 1 else None
        try:
            self._loop(study, space, trained)
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
        self.progress.note(f"{self.worker}: trained {len(trained)} trials of study "
                           f"{self.name!r}")
        return self._result(study, trained)

    def _loop(self, study: Any, space: Sequence[Param], trained: list[int]) -> None:
        import optuna
        from optuna.trial import TrialState

        while True:
            if self._rdb:
                optuna.storages.fail_stale_trials(study)
            states = [t.state for t in study.get_trials(deepcopy=False)]
            done = states.count(TrialState.COMPLETE)
            busy = states.count(TrialState.RUNNING)  # WAITING ones (retries) are to claim
            if done >= self.trials:
                break
            k = min(self.batch * self.jobs, self.trials - done - busy)
            if k <= 0:
                if self._rdb:  # others hold the rest of the budget: wait (they may die)
                    time.sleep(POLL)
                    continue
                k = 1  # journal: a dead worker's RUNNING trials never come back
            trained += self._batch(study, space, k)

    def _warm_start(self, study: Any) -> None:
        """A new search (this worker recorded its setup) starts from the default compare
        shapes its family holds (:data:`~lrkit.experiment.families.Family.starts`), each at
        the centre times ``START_FACTORS`` (with ``--peaks auto``: three of compare's
        peaks): enqueued once, before any
        other trial, so that the search never ends worse than those."""
        if not (self.created and self.o.warm_start):
            return
        lo, hi = self.peaks
        points = [{**point, "peak": min(hi, max(lo, round_sig(self.centre * f)))}
                  for point in self.family.starts for f in START_FACTORS]
        for point in points[:self.trials]:
            study.enqueue_trial(point, skip_if_exists=True)

    def _batch(self, study: Any, space: Sequence[Param], k: int) -> list[int]:
        """Ask ``k`` trials, train them x seeds in batched models of ``batch`` trials
        (``jobs`` at a time), tell each result as soon as its model is done."""
        import optuna

        asked: dict[int, tuple[Any, Schedule]] = {}
        told: list[int] = []
        beat = _Heartbeat(self.storage if self._rdb else None, self.heartbeat)
        seeds = self.inp.seeds

        def on_done(runs: Sequence[Planned], results: list[Result]) -> None:
            for i in range(0, len(runs), len(seeds)):
                number = int(runs[i].label)
                trial, sched = asked.pop(number)
                rec = _record(sched, seeds, results[i:i + len(seeds)], self.worker)
                try:
                    trial.set_user_attr(ATTR, rec)
                    study.tell(trial, rec["value"])
                except (RuntimeError, ValueError) as e:  # given up as stale meanwhile
                    self.progress.note(f"trial {number} was given up as stale by another "
                                       f"worker; its result is dropped ({e})")
                    continue
                told.append(number)

        try:
            for _ in range(k):
                trial = study.ask()
                beat.add(trial._trial_id)
                study.sampler = optuna.samplers.TPESampler(
                    seed=(self.seed * 1_000_003 + trial.number) % 2**32)
                params = {p.name: _suggest(trial, p) for p in space}
                asked[trial.number] = (trial, self.family.build(params, self.inp.training.steps))
            plan = [Planned(f"{num}:{sd}", str(num), float(tr.params["peak"]), sd, sched)
                    for num, (tr, sched) in asked.items() for sd in seeds]
            chunks = [plan[i:i + self.batch * len(seeds)]
                      for i in range(0, len(plan), self.batch * len(seeds))]
            first, last = min(asked), max(asked)
            advance = per_run(self.progress.phase(f"trials {first}-{last}", len(plan)),
                              self.inp.training.steps)
            with user_code(self.inp.ref):
                run_grid(self.inp.ref, chunks, self.inp.training.kwargs(), on_done,
                         jobs=self.jobs, progress=advance, pool=self.pool)
            return told
        finally:
            beat.stop()
            for trial, _ in asked.values():  # interrupted: hand back what was claimed
                try:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                except Exception:  # noqa: BLE001, S110 - already finished or the store is gone
                    pass

    def _result(self, study: Any, trained: list[int]) -> TuneResult:
        from optuna.trial import TrialState

        out = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            rec = t.user_attrs.get(ATTR)
            if not isinstance(rec, dict) or "spec" not in rec:
                continue
            out.append(TrialResult(t.number, dict(t.params), rec["spec"], float(t.value),
                                   rec.get("ci"), rec["losses"], int(rec["diverged"]),
                                   str(rec.get("worker")), rec))
        out.sort(key=lambda t: (t.value, t.number))
        task = self.inp.task
        return TuneResult(
            command=self.o.command, study=self.name, storage=self.url, family=self.family,
            task={"name": task.name, "description": task.description, "loss": task.loss,
                  "metric": task.metric, "id": self.inp.config["task"]},
            settings=self.inp.training.settings(), seeds=list(self.inp.seeds),
            peak_range=self.peaks, trials=out, trained_here=trained,
            task_args=_task_args(self.o.training), worker=self.worker,
            seconds=time.perf_counter() - self.t0)


def _record(sched: Schedule, seeds: Sequence[int], results: Sequence[dict[str, Any]],
            worker: str) -> dict[str, Any]:
    """A trial's user attribute: spec, value (mean final validation loss; inf when a seed
    diverged), interval, per-seed losses and curves."""
    losses: list[float | None] = []
    for r in results:
        last = (r.get("val_loss") or [None])[-1]
        ok = not r.get("diverged") and last is not None and math.isfinite(last)
        losses.append(float(last) if ok else None)
    diverged = sum(v is None for v in losses)
    m = mean_ci(losses)
    value = math.inf if diverged or m.mean is None else m.mean
    return {"spec": repr(sched), "value": value, "ci": m.ci if not diverged else None,
            "losses": losses, "diverged": diverged, "seeds": list(seeds), "worker": worker,
            "eval_steps": results[0].get("eval_steps"),
            "val_loss": [r.get("val_loss") for r in results],
            "val_metric": [r.get("val_metric") for r in results],
            "seconds": sum(float(r.get("seconds") or 0.0) for r in results)}


def _suggest(trial: Any, p: Param) -> Any:
    if p.choices:
        return trial.suggest_categorical(p.name, list(p.choices))
    return trial.suggest_float(p.name, p.low, p.high, step=p.step, log=p.log)


class _Heartbeat:
    """A thread recording a heartbeat for every claimed trial every ``interval`` s (RDB
    storage; ``storage=None``: nothing)."""

    def __init__(self, storage: Any, interval: float) -> None:
        self.storage, self.interval = storage, interval
        self.ids: list[int] = []
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, trial_id: int) -> None:
        if self.storage is None:
            return
        self.storage.record_heartbeat(trial_id)
        self.ids.append(trial_id)
        if self.thread is None:
            self.thread = threading.Thread(target=self._beat, name="lrkit-heartbeat",
                                           daemon=True)
            self.thread.start()

    def _beat(self) -> None:
        while not self.done.wait(self.interval):
            for i in list(self.ids):
                try:
                    self.storage.record_heartbeat(i)
                except Exception:  # noqa: BLE001, S110 - a lost beat: the next one may pass
                    pass

    def stop(self) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()


class _Notes:
    """The study attributes as :class:`~lrkit.experiment.store.Store` notes (for
    :func:`~lrkit.experiment.compare.range_test`, which keeps its result there)."""

    def __init__(self, study: Any) -> None:
        self.study = study

    def get_note(self, name: str) -> Any:
        return self.study.user_attrs.get(name)

    def set_note(self, name: str, value: Any) -> None:
        self.study.set_user_attr(name, value)


def _parse_peak_range(text: str) -> tuple[float, float] | None:
    """``--peaks``: ``"auto"`` -> ``None``; ``"LO,HI"`` -> ``(LO, HI)`` with 0 < LO < HI."""
    t = str(text).strip().lower()
    if t == "auto":
        return None
    try:
        lo, hi = (float(v) for v in t.split(","))
    except ValueError:
        lo = hi = math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise InputError(f"--peaks must be 'auto' or a range LO,HI with 0 < LO < HI, "
                         f"like 0.001,1, got {text!r}")
    return lo, hi


def _task_args(o: Options) -> str:
    """The task and training options given (``--task digits-mlp --optimizer adam``), for
    the ``lrkit compare`` command that reruns a trial."""
    import shlex

    opts = {"task": o.task, "data": o.data, "target": o.target, "batch-size": o.batch_size,
            "optimizer": o.optimizer, "momentum": o.momentum, "weight-decay": o.weight_decay,
            "betas": None if o.betas is None else ",".join(map(str, o.betas)), "eps": o.eps,
            "grad-clip": o.grad_clip, "eval-every": o.eval_every, "device": o.device}
    out = [f"--{k} {shlex.quote(str(v))}" for k, v in opts.items() if v is not None]
    if o.nesterov is not None:
        out.append("--nesterov" if o.nesterov else "--no-nesterov")
    return " ".join(out)


def _default_storage(out: str) -> str:
    os.makedirs(out, exist_ok=True)
    return "sqlite:///" + os.path.abspath(os.path.join(out, "lrkit.db"))


def _study_name(task: str, family: str, setup: dict[str, Any]) -> str:
    """``tune-<task>-<family>-<hash of the setup>``: two different searches never mix."""
    digest = hashlib.sha256(_canon(setup).encode()).hexdigest()[:8]
    return f"tune-{task}-{family}-{digest}"


def _canon(x: Any) -> str:
    return json.dumps(x, sort_keys=True, default=str)


def _short(x: Any) -> str:
    s = _canon(x)
    return s if len(s) <= 80 else s[:77] + "..."


def top_table(result: TuneResult, k: int = 10) -> tuple[list[str], list[list[str]]]:
    """The best ``k`` trials as text: header and rows."""
    names = [p.name for p in result.family.params] + ["peak"]
    header = ["#", "trial", "val loss", *names]
    rows = []
    for i, t in enumerate(result.trials[:k], 1):
        val = "diverged" if not math.isfinite(t.value) else (
            f"{t.value:.4f}" + (f" \u00b1 {t.ci:.3f}" if t.ci is not None else ""))
        vals = [f"{t.params[n]:.3g}" if isinstance(t.params.get(n), float)
                else str(t.params.get(n)) for n in names]
        rows.append([str(i), str(t.number), val, *vals])
    return header, rows

