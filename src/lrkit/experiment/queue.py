"""The work queue of a distributed comparison: work items as Optuna trials, claimed
atomically, held by a lease.

A comparison stored as study ``NAME`` (one COMPLETE trial per run, see
:mod:`~lrkit.experiment.store`) has its queue in the study ``NAME/queue``
(:func:`queue_name`): the grid's spec in its user attributes, and one trial per
**work item** (a user attribute ``"work"``: ``{"id": ..., "kind": "chunk" | "plan", ...}``).

* **Enqueue**: an item is a WAITING trial; :meth:`Queue.enqueue` adds several in one
  transaction (:func:`~lrkit.experiment.storage.add_trials`).
* **Claim**: WAITING -> RUNNING, atomically. On an RDB storage (PostgreSQL) one
  transaction locks the trial's row (``SELECT ... FOR UPDATE``), checks it is WAITING,
  sets it RUNNING, writes the claimer's name and the first heartbeat (Optuna's own
  ``trial_heartbeats`` table), so no claimed item is ever without a heartbeat. On a
  journal file, Optuna's ``set_trial_state_values(RUNNING)``: the first RUNNING log line
  appended under the file lock wins, every later one is rejected when replayed.
* **Lease**: while an item is worked on, a thread renews its heartbeat every
  ``lease / 5`` seconds (:meth:`Queue.hold`): Optuna's ``record_heartbeat`` on RDB
  (the database server's clock), a ``"beat"`` user attribute (``time.time()`` of the
  worker) on a journal, which has no heartbeat in Optuna. An item RUNNING without a
  heartbeat for ``lease`` seconds is **stale**: :meth:`Queue.recover` fails it (RDB:
  ``optuna.storages.fail_stale_trials``; journal: ``FAIL`` if its last beat, or its
  claim time, is older than ``lease``; each FAIL succeeds once).
* **Needed again**: an item id with no WAITING, RUNNING or COMPLETE trial (its trials
  failed) is enqueued again by whoever sees it (:meth:`Queue.requeue`). Two workers may
  both do that; then only the live trial with the lowest number is worked on: a worker
  that claims any other trial of the item gives it up at once (:meth:`Queue.rival`),
  whether the lower one is RUNNING or still WAITING (claimed a moment later, it would go
  on, and the item would be trained twice). So an item is worked on by one worker at a
  time.
* **Done**: an item is done when one of its trials is COMPLETE; the queue is done when
  every item id is.

Work that finished twice (a worker that lost its lease but still finished) is stored
once: the first trial of a run key wins in the store, and ``status`` counts the others.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..errors import InputError
from .recipe import LEASE

WORK = "work"
GRID = "grid"


def check_lease(lease: Any) -> float:
    """``lease`` as seconds, or an ``InputError`` unless it is a finite number > 0.

    >>> check_lease(30)
    30.0
    """
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not (
            0 < lease < float("inf")):
        raise InputError(f"--lease must be a positive number of seconds, got {lease!r}")
    return float(lease)


def queue_name(study: str) -> str:
    """The queue study's name for the comparison study ``study``.

    >>> queue_name("lrkit-digits-mlp-0123456789")
    'lrkit-digits-mlp-0123456789/queue'
    """
    return f"{study}/queue"


def worker_name() -> str:
    """``host:pid``: who claimed an item (shown by ``lrkit status``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Queue:
    """The queue study ``queue_name(study)`` on an opened Optuna ``storage``."""

    def __init__(self, storage: Any, study: str, lease: float = LEASE,
                 create: bool = False) -> None:
        import optuna

        self.lease = float(lease)
        self.who = worker_name()
        self.name = study
        if create:
            self.study = optuna.create_study(storage=storage, study_name=queue_name(study),
                                             load_if_exists=True)
        else:
            try:
                self.study = optuna.load_study(storage=storage, study_name=queue_name(study))
            except KeyError:
                raise InputError(f"--study {study!r}: no such comparison in this storage; "
                                 "start it with lrkit compare --storage URL") from None
        self.storage: Any = self.study._storage
        self.backend: Any = getattr(self.storage, "_backend", self.storage)
        self.rdb = isinstance(self.backend, optuna.storages.RDBStorage)
        self.lost: set[int] = set()  # items whose lease this process lost

    # -- reading ---------------------------------------------------------------------------

    @property
    def grid(self) -> dict[str, Any] | None:
        """The grid's spec (``None`` before the comparison has stored it)."""
        g = self.study.user_attrs.get(GRID)
        return g if isinstance(g, dict) else None

    def trials(self) -> list[Any]:
        """Every item trial (FrozenTrials, oldest first)."""
        return [t for t in self.study.get_trials(deepcopy=False) if WORK in t.user_attrs]

    def oldest_waiting(self, rng: random.Random, limit: int = 16) -> Any:
        """One of the ``limit`` oldest WAITING item trials (at random, so that workers rarely
        race for one), read with two small queries on an RDB storage (reading every trial
        of a large queue each time is what would make many workers slow); ``None`` if none
        is waiting, or on a journal (whose trials are in memory: use :meth:`trials`)."""
        if not self.rdb:
            return None
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
        from optuna.trial import TrialState

        with _create_scoped_session(self.backend.scoped_session) as session:
            ids = [r[0] for r in session.query(models.TrialModel.trial_id)
                   .filter(models.TrialModel.study_id == self.study._study_id)
                   .filter(models.TrialModel.state == TrialState.WAITING)
                   .order_by(models.TrialModel.trial_id).limit(limit).all()]
        return self.backend.get_trial(rng.choice(ids)) if ids else None

    # -- writing ---------------------------------------------------------------------------

    def enqueue(self, items: list[dict[str, Any]]) -> None:
        """Add ``items`` as WAITING trials, all in one transaction."""
        import optuna
        from optuna.trial import TrialState

        from .storage import add_trials

        add_trials(self.study, [optuna.trial.create_trial(state=TrialState.WAITING,
                                                          user_attrs={WORK: it})
                                for it in items])

    def claim(self, trial: Any) -> bool:
        """Claim the WAITING ``trial`` for this process; ``False`` if another was first."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        tid = trial._trial_id
        if self.rdb:
            return self._claim_rdb(tid)
        try:
            if not self.storage.set_trial_state_values(tid, TrialState.RUNNING):
                return False
        except UpdateFinishedTrialError:
            return False
        with contextlib.suppress(UpdateFinishedTrialError):
            self.storage.set_trial_user_attr(tid, "worker", self.who)
        return True

    def _claim_rdb(self, tid: int) -> bool:
        from datetime import datetime

        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
        from optuna.trial import TrialState

        with _create_scoped_session(self.backend.scoped_session) as session:
            t = models.TrialModel.find_or_raise_by_id(tid, session, for_update=True)
            if t.state != TrialState.WAITING:
                return False
            t.state = TrialState.RUNNING
            t.datetime_start = datetime.now()
            session.add(models.TrialHeartbeatModel(trial_id=tid))
            self.backend._set_trial_attr_without_commit(
                session, models.TrialUserAttributeModel, tid, "worker", self.who)
        return True

    def beat(self, tid: int) -> None:
        """Renew the lease of item trial ``tid``."""
        if self.rdb:
            self.backend.record_heartbeat(tid)
        else:
            self.storage.set_trial_user_attr(tid, "beat", time.time())

    @contextlib.contextmanager
    def hold(self, tid: int) -> Iterator[None]:
        """Keep ``tid``'s lease alive (a heartbeat every ``lease / 5`` s) inside the block."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(max(0.2, self.lease / 5)):
                try:
                    self.beat(tid)
                except Exception:  # noqa: BLE001 - failed as stale, or the server is away
                    self.lost.add(tid)

        th = threading.Thread(target=loop, name="lrkit-lease", daemon=True)
        th.start()
        try:
            yield
        finally:
            stop.set()
            th.join()

    def finish(self, tid: int, value: float) -> bool:
        """Mark ``tid`` COMPLETE (``value``: how many runs it stored); ``False`` if it was
        failed as stale meanwhile (its work is then done again, or found done)."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        try:
            self.storage.set_trial_state_values(tid, TrialState.COMPLETE, [float(value)])
            return True
        except UpdateFinishedTrialError:
            return False

    def give_up(self, tid: int) -> None:
        """Mark ``tid`` PRUNED: another trial of the same item has it."""
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        with contextlib.suppress(UpdateFinishedTrialError):
            self.storage.set_trial_state_values(tid, TrialState.PRUNED)

    # -- leases ----------------------------------------------------------------------------

    def recover(self) -> None:
        """Fail every stale RUNNING item (see the module docstring)."""
        import optuna
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        if self.rdb:
            import warnings

            with warnings.catch_warnings():  # "experimental" in Optuna 5
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(self.study)
            return
        now = time.time()
        for t in self.trials():
            if t.state != TrialState.RUNNING:
                continue
            last = max(float(t.user_attrs.get("beat", 0.0)),
                       t.datetime_start.timestamp() if t.datetime_start else 0.0)
            if now - last > self.lease:
                with contextlib.suppress(UpdateFinishedTrialError):
                    self.storage.set_trial_state_values(t._trial_id, TrialState.FAIL)

    def requeue(self, trials: list[Any]) -> int:
        """Enqueue again every item id none of whose trials is WAITING, RUNNING or
        COMPLETE; returns how many."""
        from optuna.trial import TrialState

        live = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
        by_id: dict[str, list[Any]] = {}
        for t in trials:
            by_id.setdefault(t.user_attrs[WORK]["id"], []).append(t)
        needed = [ts for ts in by_id.values() if not any(t.state in live for t in ts)]
        if needed:
            self.enqueue([{**ts[0].user_attrs[WORK], "attempt": len(ts)} for ts in needed])
        return len(needed)

    def rival(self, trial: Any) -> bool:
        """Whether another trial of ``trial``'s item is COMPLETE, or live (WAITING or
        RUNNING) with a lower number: then this one gives up (read fresh from the
        storage). Of the live trials of an item only the lowest-numbered goes on, so two
        workers that claim two of them, in either order, never both go on."""
        from optuna.trial import TrialState

        wid = trial.user_attrs[WORK]["id"]
        ahead = (TrialState.WAITING, TrialState.RUNNING)
        for t in self.trials():
            if t._trial_id == trial._trial_id or t.user_attrs[WORK]["id"] != wid:
                continue
            if t.state == TrialState.COMPLETE or (
                    t.state in ahead and t.number < trial.number):
                return True
        return False


def pick(waiting: list[Any], rng: random.Random) -> list[Any]:
    """The order in which to try claiming ``waiting`` trials: oldest first, but each worker
    starts at a random one of the first few, so that workers rarely race for one item.

    >>> pick([1, 2, 3], random.Random(0))[0] in (1, 2, 3)
    True
    """
    k = min(len(waiting), 8)
    start = rng.randrange(k) if k else 0
    return waiting[start:] + waiting[:start]
