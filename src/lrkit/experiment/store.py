"""Where finished runs live: one Optuna study, one trial per run.

Any Optuna storage URL works (``sqlite:///path.db``, ``postgresql://...``,
``mysql+pymysql://...``), so several machines can share a study. Each
finished run becomes one COMPLETE trial; a finished chunk's runs are added in one
transaction as soon as the chunk is done (:meth:`Store.put_many`), before the
chunk counts as done, so a SIGKILL never loses a run reported finished:

* ``params``: ``peak`` (a log-scale float) and ``seed`` (an int), so Optuna's
  own tools (dashboards, ``trials_dataframe()``) can slice them;
* ``value``: the final validation loss (``inf`` for a diverged run);
* one user attribute ``"lrkit"``: ``{"key", "label", "schedule", "task", ...,
  "result": RunResult.to_dict()}``. Strings stay out of ``params`` because an
  Optuna categorical parameter must have the same choices in every trial.

The run ``key`` (see :func:`lrkit.experiment.grid.run_key`) is how a rerun
finds what is done; the first trial stored for a key wins. Study-level facts
(the range test's result for a task) are study user attributes
(:meth:`Store.get_note` / :meth:`Store.set_note`).

Opening never changes a trial; a URL that cannot be opened raises
:class:`lrkit.InputError` (a ``ValueError``) naming it. An SQLite URL is checked before
Optuna touches the file (:mod:`lrkit.experiment.opening`: in-memory databases, files that
are not an Optuna storage, corrupted or read-only ones are refused, the file left as it
was). Once open, a failure to read or write (a full disk, a database corrupted meanwhile,
a stored record that lacks a field) raises :class:`lrkit.StoreError` naming the storage
and the cause; what was stored before stays stored.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import InputError, StoreError, shown
from .opening import cause, check_sqlite, store_errors
from .recipe import STUDY

F = TypeVar("F", bound=Callable[..., Any])

ATTR = "lrkit"
#: one run's result as stored: ``RunResult.to_dict()`` (JSON: ``None`` for NaN)
Result = dict[str, Any]


RESULT_FIELDS = ("train_loss", "eval_steps", "val_loss", "lr", "diverged")
"""The fields of a stored result (``RunResult.to_dict()``) that the summary reads."""


def _store_errors(action: str) -> Callable[[F], F]:
    """Decorate a :class:`Store` method with :func:`store_errors`."""
    def wrap(method: F) -> F:
        @functools.wraps(method)
        def inner(self: Store, *args: Any, **kwargs: Any) -> Any:
            with store_errors(self.url, action):
                return method(self, *args, **kwargs)
        return inner  # type: ignore[return-value]
    return wrap


def _checked(store: Store, number: int, rec: dict[str, Any]) -> Result:
    """``rec["result"]``, or a :class:`lrkit.StoreError` if it lacks a field the summary
    reads."""
    result: Result = rec["result"]
    missing = ([f for f in RESULT_FIELDS if f not in result] if isinstance(result, dict)
               else list(RESULT_FIELDS))
    if missing:
        raise StoreError(
            f"--storage {store.url!r}: trial {number} of study {store.name!r} holds a run "
            f"({shown(rec['key'])}) whose result lacks {', '.join(map(repr, missing))}; "
            "delete that trial (optuna.delete_study removes the whole study) or use "
            "another --study")
    return result


class Store:
    """An Optuna study used as a key -> run-result store.

    >>> import tempfile, os
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "x.db")
    >>> st = Store(url)
    >>> st.put({"key": "k1", "peak": 0.1, "seed": 0}, {"key": "k1", "train_loss": [2.1, 0.6],
    ...        "eval_steps": [0, 10], "val_loss": [2.0, 0.5], "lr": [0.1, 0.0],
    ...        "diverged": False})
    >>> st.load()["k1"]["val_loss"]
    [2.0, 0.5]
    """

    def __init__(self, url: str, study: str = STUDY) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if not isinstance(url, str) or not url.strip():
            raise InputError(f"--storage must be an Optuna storage URL, got {url!r}")
        self.url, self.name = url, study
        check_sqlite(url)
        try:
            self.study = optuna.create_study(
                storage=url, study_name=study, direction="minimize", load_if_exists=True
            )
        except Exception as e:  # noqa: BLE001 - sqlalchemy/optuna raise many kinds
            raise InputError(f"--storage {url!r} cannot be opened: {cause(e)}") from None

    @classmethod
    def on(cls, storage: Any, url: str, study: str) -> Store:
        """The store of study ``study`` on an opened Optuna ``storage``
        (:func:`~lrkit.experiment.storage.open_storage`; ``url`` is for messages),
        created if absent."""
        import optuna

        self = cls.__new__(cls)
        self.url, self.name = url, study
        self.study = optuna.create_study(storage=storage, study_name=study,
                                         direction="minimize", load_if_exists=True)
        return self

    @_store_errors("read")
    def load(self) -> dict[str, Result]:
        """Every stored run: key -> ``RunResult.to_dict()`` (the first trial per key).

        A record that lacks a field of :data:`RESULT_FIELDS` raises
        :class:`lrkit.StoreError` naming the trial and the field."""
        from optuna.trial import TrialState

        out: dict[str, Result] = {}
        for tr in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            rec = tr.user_attrs.get(ATTR)
            if isinstance(rec, dict) and "key" in rec and "result" in rec:
                out.setdefault(rec["key"], _checked(self, tr.number, rec))
        return out

    def records(self) -> list[dict[str, Any]]:
        """Every stored run's whole record (the first trial per key), in storage order:
        the run's ``meta`` as :meth:`put` got it, with its result under ``"result"``."""
        from optuna.trial import TrialState

        seen: dict[str, dict[str, Any]] = {}
        for tr in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            rec = tr.user_attrs.get(ATTR)
            if isinstance(rec, dict) and "key" in rec and "result" in rec:
                seen.setdefault(rec["key"], rec)
        return list(seen.values())

    def count(self) -> int:
        """How many runs are stored (trials carrying an lrkit record)."""
        return len(self.load())

    @_store_errors("write")
    def put(self, meta: dict[str, Any], result: Result) -> None:
        """Store one finished run: ``meta`` has ``key``, ``peak``, ``seed`` (and any
        JSON-safe details); ``result`` is ``RunResult.to_dict()``."""
        self.put_many([(meta, result)])

    @_store_errors("write")
    def put_many(self, runs: Sequence[tuple[dict[str, Any], Result]]) -> None:
        """Store several finished runs (``(meta, result)`` pairs, as :meth:`put`) at once:
        all or none, one transaction (:func:`~lrkit.experiment.storage.add_trials`). When
        it returns they are durable: a SIGKILL after it cannot lose them."""
        from .storage import add_trials

        add_trials(self.study, [_trial(m, r) for m, r in runs])

    @_store_errors("read")
    def get_note(self, name: str) -> Any:
        """A study user attribute (``None`` if absent)."""
        return self.study.user_attrs.get(name)

    @_store_errors("write")
    def set_note(self, name: str, value: Any) -> None:
        self.study.set_user_attr(name, value)


def _trial(meta: dict[str, Any], result: Result) -> Any:
    """One run as a COMPLETE Optuna trial (see the module docstring)."""
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution

    peak, seed = float(meta["peak"]), int(meta["seed"])
    vl = result.get("val_loss") or [None]
    last = vl[-1]
    value = math.inf if result.get("diverged") or last is None else float(last)
    if not math.isfinite(value):
        value = math.inf
    return optuna.trial.create_trial(
        value=value,
        params={"peak": peak, "seed": seed},
        distributions={
            "peak": FloatDistribution(min(1e-12, peak), max(1e6, peak), log=True),
            "seed": IntDistribution(min(0, seed), max(2**31 - 1, seed)),
        },
        user_attrs={ATTR: {**meta, "result": result}},
    )
