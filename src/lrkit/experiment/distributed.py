"""A comparison spread over many processes and machines: plan once, claim chunks, report.

``lrkit compare ... --storage postgresql://...`` (or ``journal:///...``) stores the grid's
spec with the comparison (:func:`grid_spec`; the study's name defaults to
:func:`default_study`, a hash of it) and enqueues one **plan** item; then, unless
``--no-train``, works like any ``lrkit worker`` (:func:`work`). Workers claim items from
the queue (:mod:`~lrkit.experiment.queue`) until every item is done:

* a **chunk** item (stage ``s``, index ``i``) is the ``i``-th chunk of the grid at stage
  ``s``'s peaks (``chunked(plan(...), chunk_size)[i]``, the same chunks as a
  one-process comparison); the worker trains it as one batched model, stores its runs
  in one transaction (skipping runs stored already, the first stored wins), then marks
  the item COMPLETE. A chunk whose runs are all stored already (its worker died after
  storing) is completed without training;
* a **plan** item for stage ``s`` becomes claimable when every chunk of stage ``s - 1``
  is done. Stage 0's planner runs the range test (``--peaks auto``; kept in the study)
  and enqueues the grid; stage ``s >= 1``'s planner does what a one-process comparison
  does after a stage: ``--peaks auto`` extends the peaks past an edge
  (:func:`~lrkit.experiment.grid.extend_peaks`, at most ``MAX_EXTEND`` times). The new
  chunks and the next plan item are enqueued in one transaction, so a planner killed
  half-way leaves either all of them or none; its item goes stale and the next planner
  finds the chunks there and only completes it.

Whoever completes the last item writes the report into its ``--out``; ``lrkit report``
renders it from the store at any time (:func:`result`), marking runs not stored yet.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from typing import Any

from ..errors import InputError
from .candidates import round_sig
from .compare import CompareResult, Options, _Inputs, _inputs, range_test, stored_line
from .grid import Planned, chunked, extend_peaks, plan
from .progress import Progress
from .queue import GRID, WORK, Queue, pick, queue_name
from .recipe import MAX_EXTEND, RANGE_TEST_SEEDS, TRAINING
from .runner import run_grid, user_code
from .store import Store
from .summary import summarize

POLL = 0.25
"""Seconds a worker waits before looking again when nothing is claimable."""

_SPEC = ("task", "data", "target", "schedules", "steps", "seeds", "peaks", "chunk_size",
         "target_acc", "target_loss", *(k for k in TRAINING if k != "device"))


def grid_spec(o: Options, inp: _Inputs) -> dict[str, Any]:
    """What the comparison is, JSON-ready: the options that define the grid (the task,
    the schedules as given, the steps, seeds, peaks, chunk size, target and training
    settings, all resolved) and ``task_id`` (the task's identity and fingerprint). Any
    worker rebuilds the comparison from it (:func:`options_of`)."""
    st = inp.training.settings()
    spec: dict[str, Any] = {
        "task": o.task, "data": o.data, "target": o.target,
        "schedules": [*o.schedules], "steps": inp.training.steps, "seeds": inp.seeds,
        "peaks": o.peaks, "chunk_size": inp.chunk, "target_acc": o.target_acc,
        "target_loss": o.target_loss, "task_id": inp.config["task"],
        **{k: st[k] for k in TRAINING if k != "device"}}
    out: dict[str, Any] = json.loads(json.dumps(spec))
    return out


def default_study(spec: dict[str, Any], task_name: str) -> str:
    """``lrkit-<task>-<10 hex digits of the spec's hash>``: two different comparisons never
    share a study by default."""
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return f"lrkit-{task_name}-{digest}"


def differences(stored: dict[str, Any], given: dict[str, Any]) -> list[str]:
    """``key: stored -> given`` for every key whose value differs.

    >>> differences({"seeds": [0, 1], "steps": 5}, {"seeds": [0], "steps": 5})
    ['seeds: [0, 1] there, [0] here']
    """
    return [f"{k}: {json.dumps(stored.get(k))} there, {json.dumps(given.get(k))} here"
            for k in sorted(set(stored) | set(given)) if stored.get(k) != given.get(k)]


def options_of(spec: dict[str, Any], device: str | None = None) -> Options:
    """The :class:`~lrkit.experiment.compare.Options` that rebuild ``spec``'s comparison
    (on this machine's ``device``)."""
    kw: dict[str, Any] = {k: spec.get(k) for k in _SPEC}
    if kw.get("betas") is not None:
        kw["betas"] = tuple(kw["betas"])
    return Options(**kw, device=device)


class Comparison:
    """A distributed comparison opened on a storage: its queue, its store and its inputs."""

    def __init__(self, storage: Any, url: str, study: str, inp: _Inputs, queue: Queue) -> None:
        self.url, self.study, self.inp, self.queue = url, study, inp, queue
        self.store = Store.on(storage, url, study)
        self.labels = [c.label for c in inp.candidates]
        self._chunks: dict[str, list[list[Planned]]] = {}  # a stage's chunks, by its peaks

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def start(cls, o: Options, lease: float) -> Comparison:
        """``lrkit compare --storage URL``: check the inputs, open (or create) the study,
        store the grid's spec and the first plan item, or refuse if the study holds
        another grid."""
        inp = _inputs(o)
        spec = grid_spec(o, inp)
        storage = _open(str(o.storage), lease)
        name = o.study or default_study(spec, inp.task.name)
        q = Queue(storage, name, lease, create=True)
        stored = q.grid
        if stored is None:
            q.study.set_user_attr(GRID, spec)
        elif stored != spec:
            raise InputError(f"--study {name!r} holds a different comparison: "
                             + "; ".join(differences(stored, spec))
                             + "; choose another --study (or leave it out)")
        if not q.trials():  # new, or its starter died before this: the first plan item
            q.enqueue([{"id": "p0", "kind": "plan", "stage": 0}])
        return cls(storage, str(o.storage), name, inp, q)

    @classmethod
    def join(cls, url: str, study: str | None, lease: float,
             device: str | None = None) -> Comparison:
        """``lrkit worker``/``report``: open an existing comparison (refusing, and writing
        nothing, when there is none)."""
        q = _existing(url, study, lease)
        spec = q.grid
        if spec is None:
            raise InputError(f"--study {q.name!r} has no comparison planned yet")
        inp = _inputs(options_of(spec, device))
        if inp.config["task"] != spec["task_id"]:
            raise InputError(f"the task here ({inp.config['task']}) is not the comparison's "
                             f"({spec['task_id']}): install the same task and data")
        return cls(q.study._storage, url, q.name, inp, q)

    # -- the grid --------------------------------------------------------------------------

    def stages(self, trials: Sequence[Any] | None = None) -> list[list[float | None]]:
        """The peaks of every planned stage so far (from the COMPLETE plan items)."""
        from optuna.trial import TrialState

        out: dict[int, list[float | None]] = {}
        for t in trials if trials is not None else self.queue.trials():
            w = t.user_attrs[WORK]
            if w["kind"] == "plan" and t.state == TrialState.COMPLETE and "peaks" in t.user_attrs:
                out.setdefault(int(w["stage"]), list(t.user_attrs["peaks"]))
        return [out[s] for s in sorted(out)]

    def planned(self, stages: Sequence[Sequence[float | None]]) -> list[Planned]:
        inp = self.inp
        return [p for peaks in stages if peaks
                for p in plan(inp.candidates, peaks, inp.seeds, inp.training.steps, inp.config)]

    def chunk(self, item: dict[str, Any]) -> list[Planned]:
        """The runs of a chunk item (its stage's grid is planned once per process)."""
        inp, at = self.inp, json.dumps(item["peaks"])
        if at not in self._chunks:
            grid = plan(inp.candidates, item["peaks"], inp.seeds, inp.training.steps,
                        inp.config)
            self._chunks[at] = chunked(grid, inp.chunk)
        return self._chunks[at][int(item["index"])]

    # -- working ---------------------------------------------------------------------------

    def work(self, progress: Progress, train: bool = True) -> bool:
        """Claim and do items until every item is done (waiting, meanwhile, for other
        workers, and taking over their items when their leases run out). Returns whether
        this process completed the item completed last (so one process writes the report).

        The oldest waiting chunks are claimed through a small query
        (:meth:`~lrkit.experiment.queue.Queue.oldest_waiting`); the whole queue is read only
        when none is claimable (a plan item, the end, or work to take over)."""
        from optuna.trial import TrialState

        rng = random.Random()
        q, recover_at = self.queue, 0.0
        while True:
            if time.monotonic() >= recover_at:
                q.recover()
                recover_at = time.monotonic() + q.lease / 5
            if train:
                t = q.oldest_waiting(rng)
                if t is not None and t.user_attrs[WORK]["kind"] == "chunk":
                    if q.claim(t):
                        self._do(t, progress)
                    continue
            trials = q.trials()
            if q.requeue(trials):
                continue
            if done(trials):
                return train and _last_worker(trials) == q.who
            if not train:
                return False
            complete = {t.user_attrs[WORK]["id"] for t in trials if t.state == TrialState.COMPLETE}
            waiting = [t for t in trials if t.state == TrialState.WAITING]
            chunks = [t for t in waiting if t.user_attrs[WORK]["kind"] == "chunk"]
            plans = [t for t in waiting if t.user_attrs[WORK]["kind"] == "plan"
                     and _ready(t.user_attrs[WORK]["stage"], trials, complete)]
            for t in pick(chunks, rng) + plans:
                if q.claim(t):
                    self._do(t, progress)
                    break
            else:
                time.sleep(POLL * (0.5 + rng.random()))

    def _do(self, t: Any, progress: Progress) -> None:
        q, item = self.queue, t.user_attrs[WORK]
        with q.hold(t._trial_id):
            # a first chunk attempt has no rival (chunks are enqueued once, by their planner);
            # a plan item may have been enqueued by two starting `lrkit compare`s at once
            if (item.get("attempt", 0) or item["kind"] == "plan") and q.rival(t):
                q.give_up(t._trial_id)
                return
            with user_code(self.inp.ref):
                n = self._chunk(item, progress) if item["kind"] == "chunk" else self._plan(
                    item, t._trial_id, progress)
            q.finish(t._trial_id, n)

    def _chunk(self, item: dict[str, Any], progress: Progress) -> int:
        """Train a chunk and store its runs (those not stored yet: the first wins). A first
        attempt's runs cannot be stored yet (chunks of a stage share no run, stages no
        peak), so only a later attempt reads the store first."""
        runs = self.chunk(item)
        again = bool(item.get("attempt", 0))
        if again and all(p.key in self.store.load() for p in runs):
            return len(runs)  # stored by a worker that died before completing the item
        inp = self.inp
        progress.note(f"training chunk {item['id']} ({len(runs)} runs)")

        def on_done(chunk: Sequence[Planned], results: list[Any]) -> None:
            have = self.store.load() if again else {}
            fresh = [(p, r) for p, r in zip(chunk, results) if p.key not in have]
            self.store.put_many([(p.record(inp.task.name, inp.config), r) for p, r in fresh])
            progress.note(stored_line(len(chunk), len(fresh), f"chunk {item['id']}"))

        run_grid(inp.ref, [runs], inp.training.kwargs(), on_done)
        return len(runs)

    def _plan(self, item: dict[str, Any], tid: int, progress: Progress) -> int:
        """Plan stage ``item["stage"]``: enqueue its chunks and the next plan item."""
        inp, q, s = self.inp, self.queue, int(item["stage"])
        trials = q.trials()
        earlier = self.stages(trials)[:s]
        peaks: list[float | None]
        if s == 0:
            if inp.mode == "auto":
                lf = range_test(inp.task, inp.config, inp.seeds[:RANGE_TEST_SEEDS], self.store,
                                progress)
                peaks = [round_sig(lf.suggestion * f) for f in inp.factors]
            else:
                peaks = list(inp.factors) if inp.mode == "fixed" else [None]
        else:
            rows = summarize(self.planned(earlier), self.store.load(), self.labels, inp.target)
            tried = [p for st in earlier for p in st]
            peaks = list(extend_peaks((r.best_peak for r in rows), tried))
        if not any(w["kind"] == "chunk" and int(w["stage"]) == s
                   for w in (x.user_attrs[WORK] for x in trials)):
            grid = plan(inp.candidates, peaks, inp.seeds, inp.training.steps, inp.config) \
                if peaks else []
            items: list[dict[str, Any]] = [
                {"id": f"c{s}.{i}", "kind": "chunk", "stage": s, "index": i, "peaks": peaks,
                 "runs": len(c)} for i, c in enumerate(chunked(grid, inp.chunk))]
            if peaks and inp.mode == "auto" and s + 1 <= MAX_EXTEND:
                items.append({"id": f"p{s + 1}", "kind": "plan", "stage": s + 1})
            if items:
                q.enqueue(items)
            progress.note(f"planned stage {s}: {len(grid)} runs in {len(items)} items"
                          + (f" at peaks {', '.join(f'{p:.3g}' for p in peaks if p)}"
                             if any(peaks) else ""))
        q.storage.set_trial_user_attr(tid, "peaks", peaks)
        return len(peaks)

    # -- reporting -------------------------------------------------------------------------

    def result(self, command: str | None = None) -> CompareResult:
        """The comparison as the store holds it now: every stage planned so far, with the
        runs not stored yet left out of the table and counted in ``missing``."""
        from .compare import cached_range_test

        inp = self.inp
        trials = self.queue.trials()
        stages = self.stages(trials)
        planned = self.planned(stages)
        have = self.store.load()
        present = [p for p in planned if p.key in have]
        labels = [lb for lb in self.labels if any(p.label == lb for p in present)]
        rows = summarize(present, have, labels, inp.target) if present else []
        seeds = inp.seeds[:RANGE_TEST_SEEDS] if inp.mode == "auto" else []
        lf = cached_range_test(inp.config, seeds, self.store) if seeds else None
        peaks = sorted({p for st in stages for p in st if p is not None})
        t = inp.task
        return CompareResult(
            command=command,
            task={"name": t.name, "description": t.description, "loss": t.loss,
                  "metric": t.metric, "id": inp.config["task"]},
            training=inp.training, steps_per_epoch=inp.steps_per_epoch, seeds=inp.seeds,
            peak_mode=inp.mode, peaks=peaks,
            peak_extensions=max(0, sum(1 for st in stages if st) - 1),
            chunk_size=inp.chunk, study=self.study, target=inp.target, rows=rows,
            order=labels, lr_find=lf, lr_find_seeds=seeds if lf else [],
            runs=len(planned), missing=len({p.key for p in planned} - set(have)),
            complete=done(trials),
        )


def done(trials: Sequence[Any]) -> bool:
    """Whether every item id has a COMPLETE trial (and there is at least one)."""
    from optuna.trial import TrialState

    ids = {t.user_attrs[WORK]["id"] for t in trials}
    complete = {t.user_attrs[WORK]["id"] for t in trials if t.state == TrialState.COMPLETE}
    return bool(ids) and ids == complete


def _last_worker(trials: Sequence[Any]) -> str | None:
    """Who completed the item completed last."""
    from optuna.trial import TrialState

    fin = [t for t in trials if t.state == TrialState.COMPLETE and t.datetime_complete]
    return max(fin, key=lambda t: (t.datetime_complete, t.number)).user_attrs.get(
        "worker") if fin else None


def _ready(stage: int, trials: Sequence[Any], complete: set[str]) -> bool:
    """Whether stage ``stage - 1``'s chunks are all done (a plan item may go)."""
    return all(t.user_attrs[WORK]["id"] in complete for t in trials
               if t.user_attrs[WORK]["kind"] == "chunk"
               and int(t.user_attrs[WORK]["stage"]) == stage - 1)


def _open(url: str, lease: float) -> Any:
    from .storage import open_storage

    if not lease > 0 or lease != lease or lease == float("inf"):
        raise InputError(f"--lease must be a positive number of seconds, got {lease!r}")
    return open_storage(url, heartbeat=max(1.0, lease / 5), grace=lease)


def _existing(url: str, study: str | None, lease: float) -> Queue:
    """The queue of an existing comparison (``study=None``: the only one there is)."""
    import optuna

    from .storage import exists, shown_url

    if not exists(url):
        raise InputError(f"--storage {shown_url(url)!r} holds no comparison yet (no such "
                         "file); start one with lrkit compare --storage URL")
    storage = _open(url, lease)
    names = sorted(n[:-len("/queue")] for n in optuna.get_all_study_names(storage)
                   if n.endswith("/queue"))
    if study is None:
        if len(names) != 1:
            have = ", ".join(names) if names else "none"
            raise InputError(f"--study is needed: the storage holds {len(names)} comparisons "
                             f"({have})")
        study = names[0]
    if study not in names:
        raise InputError(f"--study {study!r}: no such comparison in {shown_url(url)} "
                         f"(there: {', '.join(names) if names else 'none'})")
    return Queue(storage, study, lease)


def status(url: str, study: str | None) -> dict[str, Any]:
    """How far a comparison is: items and runs done / claimed / waiting, by which workers,
    failed leases and runs stored twice (read only; no task is loaded).

    Keys: ``study``, ``runs`` (``planned``, ``stored``, ``claimed``, ``waiting``,
    ``duplicates``), ``items`` (by state), ``workers`` (``name -> {"claimed": runs,
    "done": runs}``), ``stale`` (items whose lease ran out), ``done``."""
    from optuna.trial import TrialState

    from .store import ATTR

    q = _existing(url, study, 1e9)
    trials = q.trials()
    items: dict[str, int] = {}
    workers: dict[str, dict[str, int]] = {}
    runs = {"planned": 0, "stored": 0, "claimed": 0, "waiting": 0, "duplicates": 0}
    seen_chunks: set[str] = set()
    for t in trials:
        w = t.user_attrs[WORK]
        items[t.state.name.lower()] = items.get(t.state.name.lower(), 0) + 1
        n = int(w.get("runs", 0))
        if w["kind"] == "chunk" and w["id"] not in seen_chunks:
            seen_chunks.add(w["id"])
            runs["planned"] += n
        who = t.user_attrs.get("worker")
        if t.state == TrialState.RUNNING:
            runs["claimed"] += n
        elif t.state == TrialState.WAITING:
            runs["waiting"] += n
        if who and t.state in (TrialState.RUNNING, TrialState.COMPLETE):
            d = workers.setdefault(who, {"claimed": 0, "done": 0})
            d["claimed" if t.state == TrialState.RUNNING else "done"] += n
    keys = [tr.user_attrs[ATTR].get("key") for tr in Store.on(q.study._storage, url, q.name)
            .study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if isinstance(tr.user_attrs.get(ATTR), dict)]
    runs["stored"] = len(set(keys))
    runs["duplicates"] = len(keys) - len(set(keys))
    return {"study": q.name, "queue": queue_name(q.name), "runs": runs, "items": items,
            "workers": workers, "stale": items.get("fail", 0), "done": done(trials)}
