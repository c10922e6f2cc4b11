"""Storage URLs: what ``--storage`` accepts, and opening one as an Optuna storage.

Three forms (:func:`open_storage`):

* ``sqlite:///abs/or/rel/path.db``: one machine (Optuna's RDB storage on SQLite);
* ``postgresql://user:password@host:port/db`` (also ``postgres://`` and
  ``postgresql+psycopg://``): many machines, with the psycopg 3 driver
  (``pip install lrkit[distributed]``); the URL is normalised to
  ``postgresql+psycopg://`` (:func:`normalise`);
* ``journal:///abs/path.log``: many machines sharing a file system, no database
  server (Optuna's ``JournalStorage`` over a ``JournalFileBackend``; the path must be
  absolute, so every machine names the same file).

Anything else (another scheme or driver) is refused with an :class:`~lrkit.errors.InputError`
that lists these forms. A server that refuses the connection or the password is an
``InputError`` too, naming the URL without its password (:func:`shown_url`).

>>> normalise("postgresql://u:pw@db:5432/lrkit")
'postgresql+psycopg://u:pw@db:5432/lrkit'
>>> kind("journal:///shared/lrkit.log"), kind("sqlite:///x.db")
('journal', 'sqlite')
>>> shown_url("postgresql://u:secret@db/lrkit")
'postgresql://u:***@db/lrkit'
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from ..errors import InputError

FORMS = ("sqlite:///PATH.db", "postgresql://USER:PASSWORD@HOST:PORT/DB", "journal:///ABS/PATH.log")
"""The URL forms ``--storage`` accepts (for messages)."""

_PG = ("postgresql://", "postgres://", "postgresql+psycopg://")
_JOURNAL = "journal://"


def kind(url: str) -> str:
    """``"sqlite"``, ``"postgresql"`` or ``"journal"``; anything else raises ``InputError``."""
    if not isinstance(url, str) or not url.strip():
        raise InputError(f"--storage must be a storage URL ({', '.join(FORMS)}), got {url!r}")
    u = url.strip()
    if u.startswith("sqlite:"):
        return "sqlite"
    if u.startswith(_PG):
        return "postgresql"
    if u.startswith(_JOURNAL):
        return "journal"
    scheme = u.split(":", 1)[0] if ":" in u else u
    raise InputError(f"--storage {shown_url(u)!r}: unknown scheme or driver {scheme!r}; "
                     f"use {', '.join(FORMS)}")


def normalise(url: str) -> str:
    """The URL Optuna opens: PostgreSQL URLs get the psycopg 3 driver, others are unchanged."""
    u = url.strip()
    if kind(u) == "postgresql":
        return "postgresql+psycopg://" + u.split("://", 1)[1]
    return u


def shown_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and reports)."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", str(url))


def check_form(url: str) -> str:
    """``url``'s kind (:func:`kind`), a journal's path checked too (:func:`journal_path`):
    what can be refused before anything is opened or written."""
    k = kind(url)
    if k == "journal":
        journal_path(url)
    return k


def journal_path(url: str) -> str:
    """The absolute file path of a ``journal:///ABS/PATH`` URL."""
    path = url.strip()[len(_JOURNAL):]
    if not path.startswith("/"):
        raise InputError(f"--storage {url!r}: a journal URL names an absolute path, like "
                         "journal:///shared/lrkit.log")
    if path.endswith("/") or os.path.isdir(path):
        raise InputError(f"--storage {url!r}: {path!r} is a folder; name a file in it")
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise InputError(f"--storage {url!r}: the folder {parent!r} does not exist")
    return path


def exists(url: str) -> bool:
    """Whether the storage may hold studies already (a journal or SQLite file that exists;
    a server always may). Lets ``worker``/``report`` refuse without creating a file."""
    k = kind(url)
    if k == "journal":
        return os.path.isfile(journal_path(url))
    if k == "sqlite":
        path = url.strip()[len("sqlite:///"):]
        return bool(path) and os.path.isfile(path)
    return True


def _stale_callback_name(rdb: Any) -> str:
    """``RDBStorage``'s keyword for the callback of a stale trial: Optuna 4.9 renamed
    ``failed_trial_callback`` (deprecated, removed in 6.0) ``heartbeat_stale_trial_callback``;
    lrkit supports Optuna from 3.5."""
    import inspect

    new = "heartbeat_stale_trial_callback"
    return new if new in inspect.signature(rdb).parameters else "failed_trial_callback"


def open_storage(url: str, heartbeat: float | None = None, grace: float | None = None,
                 on_stale: Callable[[Any, Any], None] | None = None) -> Any:
    """An Optuna storage for ``url`` (see the module docstring).

    ``heartbeat`` (seconds) turns on Optuna's heartbeat on RDB storages (SQLite,
    PostgreSQL): a RUNNING trial whose heartbeat is older than ``grace`` (default 2 x
    ``heartbeat``) is stale, and ``optuna.storages.fail_stale_trials`` fails it and calls
    ``on_stale(study, trial)``. A journal storage has no heartbeat in Optuna; lrkit's lease
    (:mod:`~lrkit.experiment.queue`) covers it.

    >>> import tempfile
    >>> st = open_storage("journal://" + tempfile.mkdtemp() + "/j.log")
    >>> type(st).__name__
    'JournalStorage'
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    k = kind(url)
    if k == "sqlite":  # in-memory, foreign, corrupted or read-only files: refused untouched
        from .opening import check_sqlite

        check_sqlite(url)
    try:
        if k == "journal":
            from optuna.storages.journal import JournalFileBackend, JournalStorage

            return JournalStorage(JournalFileBackend(journal_path(url)))
        kw: dict[str, Any] = {}
        if heartbeat is not None:
            kw = {"heartbeat_interval": max(1, round(heartbeat)),
                  "grace_period": None if grace is None else max(1, round(grace)),
                  _stale_callback_name(optuna.storages.RDBStorage): on_stale}
        engine: dict[str, Any] = {"pool_pre_ping": True}
        if k == "postgresql":
            engine["connect_args"] = {"connect_timeout": 10}
        return _rdb(normalise(url), engine, kw)
    except InputError:
        raise
    except ModuleNotFoundError as e:
        raise InputError(f"--storage {shown_url(url)!r} needs the {e.name!r} package: "
                         "pip install 'lrkit[distributed]'") from None
    except Exception as e:  # noqa: BLE001 - sqlalchemy/psycopg/optuna raise many kinds
        raise InputError(f"--storage {shown_url(url)!r} cannot be opened: {why(e)}") from None


def _rdb(url: str, engine: dict[str, Any], kw: dict[str, Any]) -> Any:
    """``RDBStorage(url)``, retried when processes opening an empty database at once race
    to create Optuna's tables (PostgreSQL: ``type "alembic_version" already exists``,
    a duplicate key in ``pg_type``): the loser retries and finds the tables there."""
    import random
    import time
    import warnings

    import optuna

    for attempt in range(8):
        try:
            with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna 5
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine, **kw)
        except Exception as e:  # noqa: BLE001 - sqlalchemy wraps the driver's errors
            text = why(e)
            if attempt == 7 or not ("already exists" in text or "duplicate key" in text):
                raise
            time.sleep(0.1 + random.random() * 0.5)
    raise AssertionError("unreachable")


def why(e: BaseException) -> str:
    """A one-line reason from a driver's exception (its innermost cause, shortened)."""
    while e.__cause__ is not None:
        e = e.__cause__
    msg = " ".join(str(e).split())
    msg = re.sub(r"\(Background on this error at: [^)]*\)", "", msg).strip()
    return msg[:300] or type(e).__name__


def add_trials(study: Any, trials: list[Any]) -> None:
    """Add finished ``trials`` (``optuna.trial.create_trial(...)``) to ``study`` at once:
    all or none.

    On an RDB storage (SQLite, PostgreSQL) they are one transaction of a few bulk
    statements into Optuna's own tables (:func:`_rdb_add`); on a journal file, one
    locked, fsynced append of their log lines. Either way a SIGKILL leaves every trial
    or none of them, so a chunk of runs is stored whole, and one commit per chunk costs
    less than one per run.
    Another storage gets ``study.add_trials`` (one commit per trial).
    """
    import optuna

    if not trials:
        return
    storage = study._storage
    backend = getattr(storage, "_backend", storage)  # optuna wraps RDB in _CachedStorage
    sid = study._study_id
    if isinstance(backend, optuna.storages.RDBStorage):
        _rdb_add(backend, sid, trials)
        return
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if isinstance(storage, JournalStorage) and isinstance(storage._backend, JournalFileBackend):
        _journal_add(storage, sid, trials)
        return
    study.add_trials(trials)


def _rdb_add(backend: Any, sid: int, trials: list[Any]) -> None:
    """The rows Optuna's ``add_trial`` writes, for all ``trials`` at once: the study's row
    locked (``SELECT ... FOR UPDATE``, as Optuna does, so trial numbers stay consecutive),
    the trials inserted in one statement, then their values, parameters and user
    attributes. Trials with system attributes or intermediate values are not expected
    here (lrkit writes neither) and are refused."""
    import json

    import sqlalchemy
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    if any(t.system_attrs or t.intermediate_values or (t.values and len(t.values) > 1)
           for t in trials):
        raise ValueError("add_trials: system attributes, intermediate values and several "
                         "objectives are not supported")
    with _create_scoped_session(backend.scoped_session) as session:
        models.StudyModel.find_or_raise_by_id(sid, session, for_update=True)
        first = session.execute(sqlalchemy.select(sqlalchemy.func.count()).select_from(
            models.TrialModel).where(models.TrialModel.study_id == sid)).scalar_one()
        rows = []
        for i, t in enumerate(trials):
            row = models.TrialModel(study_id=sid, number=first + i, state=t.state)
            row.datetime_start = t.datetime_start
            row.datetime_complete = t.datetime_complete
            rows.append(row)
        session.add_all(rows)
        session.flush()
        children: list[Any] = []
        for row, t in zip(rows, trials):
            if t.value is not None:
                v, kind = models.TrialValueModel.value_to_stored_repr(t.value)
                children.append(models.TrialValueModel(trial_id=row.trial_id, objective=0,
                                                       value=v, value_type=kind))
            for name, value in t.params.items():
                d = t.distributions[name]
                children.append(models.TrialParamModel(
                    trial_id=row.trial_id, param_name=name, param_value=d.to_internal_repr(value),
                    distribution_json=distribution_to_json(d)))
            for key, value in t.user_attrs.items():
                children.append(models.TrialUserAttributeModel(
                    trial_id=row.trial_id, key=key, value_json=json.dumps(value)))
        session.add_all(children)


def _iso(when: Any) -> str | None:
    from datetime import timezone

    return None if when is None else when.astimezone(timezone.utc).isoformat(
        timespec="microseconds")


def _journal_add(storage: Any, sid: int, trials: list[Any]) -> None:
    from optuna.distributions import distribution_to_json
    from optuna.storages.journal._storage import JournalOperation

    logs = []
    for t in trials:
        logs.append({
            "op_code": JournalOperation.CREATE_TRIAL,
            "worker_id": storage._replay_result.worker_id,
            "study_id": sid, "state": t.state, "value": t.value, "values": None,
            "datetime_start": _iso(t.datetime_start),
            "distributions": {k: distribution_to_json(d) for k, d in t.distributions.items()},
            "params": {k: t.distributions[k].to_internal_repr(v) for k, v in t.params.items()},
            "user_attrs": t.user_attrs, "system_attrs": t.system_attrs,
            "intermediate_values": t.intermediate_values})
        if t.datetime_complete is not None:
            logs[-1]["datetime_complete"] = _iso(t.datetime_complete)
    with storage._thread_lock:
        storage._backend.append_logs(logs)
        storage._sync_with_backend()
