"""Where finished runs live: one Optuna study, one trial per run.

Any Optuna storage URL works (``sqlite:///path.db``, ``postgresql://...``,
``mysql+pymysql://...``), so several machines can share a study. Each
finished run becomes one COMPLETE trial, added in one call as soon as the run
is done (:meth:`Store.put`):

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
``ValueError`` naming it.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import InputError
from .recipe import STUDY

ATTR = "lrkit"
#: one run's result as stored: ``RunResult.to_dict()`` (JSON: ``None`` for NaN)
Result = dict[str, Any]


class Store:
    """An Optuna study used as a key -> run-result store.

    >>> import tempfile, os
    >>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "x.db")
    >>> st = Store(url)
    >>> st.put({"key": "k1", "peak": 0.1, "seed": 0}, {"key": "k1", "val_loss": [2.0, 0.5],
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
        try:
            self.study = optuna.create_study(
                storage=url, study_name=study, direction="minimize", load_if_exists=True
            )
        except Exception as e:  # noqa: BLE001 - sqlalchemy/optuna raise many kinds
            msg = " ".join(str(e).split())[:300] or type(e).__name__
            raise InputError(f"--storage {url!r} cannot be opened: {msg}") from None

    def load(self) -> dict[str, Result]:
        """Every stored run: key -> ``RunResult.to_dict()`` (the first trial per key)."""
        from optuna.trial import TrialState

        out: dict[str, Result] = {}
        for tr in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            rec = tr.user_attrs.get(ATTR)
            if isinstance(rec, dict) and "key" in rec and "result" in rec:
                out.setdefault(rec["key"], rec["result"])
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

    def put(self, meta: dict[str, Any], result: Result) -> None:
        """Store one finished run: ``meta`` has ``key``, ``peak``, ``seed`` (and any
        JSON-safe details); ``result`` is ``RunResult.to_dict()``."""
        import optuna
        from optuna.distributions import FloatDistribution, IntDistribution

        peak, seed = float(meta["peak"]), int(meta["seed"])
        vl = result.get("val_loss") or [None]
        last = vl[-1]
        value = math.inf if result.get("diverged") or last is None else float(last)
        if not math.isfinite(value):
            value = math.inf
        trial = optuna.trial.create_trial(
            value=value,
            params={"peak": peak, "seed": seed},
            distributions={
                "peak": FloatDistribution(min(1e-12, peak), max(1e6, peak), log=True),
                "seed": IntDistribution(min(0, seed), max(2**31 - 1, seed)),
            },
            user_attrs={ATTR: {**meta, "result": result}},
        )
        self.study.add_trial(trial)

    def writer(self) -> Writer:
        """A background writer: ``put`` returns at once, a thread adds the trial right away
        (so storing overlaps training); ``close()`` waits for it and re-raises its error.
        An in-memory SQLite URL (one database per connection) is written synchronously."""
        return Writer(self, threaded=not self.in_memory)

    @property
    def in_memory(self) -> bool:
        """Is this ``sqlite://`` or ``sqlite:///:memory:`` (a database per connection)?"""
        u = self.url.strip()
        return u.startswith("sqlite") and (u.rstrip("/").endswith(":") or ":memory:" in u)

    def get_note(self, name: str) -> Any:
        """A study user attribute (``None`` if absent)."""
        return self.study.user_attrs.get(name)

    def set_note(self, name: str, value: Any) -> None:
        self.study.set_user_attr(name, value)


class Writer:
    """See :meth:`Store.writer`. Use as a context manager or call :meth:`close`."""

    def __init__(self, store: Store, threaded: bool = True) -> None:
        import queue
        import threading

        self.store = store
        self.queue: queue.Queue[tuple[dict[str, Any], dict[str, Any]] | None] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = None
        if threaded:
            self.thread = threading.Thread(target=self._work, name="lrkit-store", daemon=True)
            self.thread.start()

    def _work(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.store.put(*item)
                except BaseException as e:  # noqa: BLE001 - handed to the caller in close()
                    self.error = e

    def put(self, meta: dict[str, Any], result: Result) -> None:
        if self.error is not None:
            raise self.error
        if self.thread is None:
            self.store.put(meta, result)
        else:
            self.queue.put((meta, result))

    def close(self) -> None:
        """Wait until everything queued is stored."""
        if self.thread is None:
            return
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
