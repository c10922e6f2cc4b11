"""Storage URLs (lrkit.experiment.storage): the three forms open real storages, bad ones are
refused with one InputError naming the URL (a real PostgreSQL server, real journal files)."""

from __future__ import annotations

import os
import socket

import optuna
import pytest

from lrkit.errors import InputError
from lrkit.experiment.storage import exists, kind, normalise, open_storage, shown_url


def test_forms(tmp_path):
    assert normalise("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise("postgresql+psycopg://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert normalise("sqlite:///x.db") == "sqlite:///x.db"
    assert kind(f"journal://{tmp_path}/j.log") == "journal"
    assert shown_url("postgresql://u:pw@h:1/db") == "postgresql://u:***@h:1/db"


@pytest.mark.parametrize("url,words", [
    ("mysql://u:p@h/db", "unknown scheme or driver 'mysql'"),
    ("postgresql+foo://u:p@h/db", "unknown scheme or driver 'postgresql+foo'"),
    ("journal://rel/j.log", "absolute path"),
    ("journal:///nonexistent-dir-lrkit/j.log", "does not exist"),
    ("", "must be a storage URL"),
])
def test_refused(url, words):
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace("+", r"\+")):
        open_storage(url)


def test_journal_roundtrip(tmp_path):
    url = f"journal://{tmp_path}/j.log"
    assert not exists(url)
    st = open_storage(url)
    optuna.create_study(storage=st, study_name="s").enqueue_trial({"x": 1.0})
    assert exists(url)
    again = optuna.load_study(storage=open_storage(url), study_name="s")
    assert [t.state for t in again.trials] == [optuna.trial.TrialState.WAITING]


def test_postgres_opens_plain_scheme(pg_url):
    plain = "postgresql://" + pg_url.split("://", 1)[1]
    st = open_storage(plain, heartbeat=1)
    optuna.create_study(storage=st, study_name="s")
    assert optuna.get_all_study_names(open_storage(pg_url)) == ["s"]


def test_postgres_wrong_password(pg_cluster):
    url = pg_cluster.url(password="x")
    with pytest.raises(InputError) as e:
        open_storage(url)
    msg = str(e.value)
    assert "password authentication failed" in msg and "postgres:***@" in msg and ":x@" not in msg
    assert "\n" not in msg


def test_postgres_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match="cannot be opened: .*(refused|failed)"):
        open_storage(f"postgresql://postgres:pw@127.0.0.1:{port}/db")
    assert not os.path.exists("db")


def _result(key, final):
    return {"key": key, "train_loss": [1.0], "eval_steps": [0, 2], "val_loss": [2.0, final],
            "val_metric": None, "lr": [0.1], "diverged": final is None, "diverged_at": None,
            "seconds": 0.1}


@pytest.mark.parametrize("where", ["journal", "postgresql", "sqlite"])
def test_put_many_is_one_batch_of_ordinary_trials(where, tmp_path, request):
    from lrkit.experiment.store import Store

    url = {"journal": f"journal://{tmp_path}/j.log", "sqlite": f"sqlite:///{tmp_path}/s.db",
           "postgresql": request.getfixturevalue("pg_url") if where == "postgresql" else ""
           }[where]
    st = Store.on(open_storage(url), url, "s")
    st.put_many([({"key": f"k{i}", "peak": 0.1 * (i + 1), "seed": i}, _result(f"k{i}", 0.5 + i))
                 for i in range(3)])
    st.put_many([({"key": "k9", "peak": 1e7, "seed": 0}, _result("k9", None))])
    again = optuna.load_study(storage=open_storage(url), study_name="s")
    trials = again.get_trials()
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert [t.params for t in trials] == [{"peak": 0.1, "seed": 0}, {"peak": 0.2, "seed": 1},
                                          {"peak": 0.30000000000000004, "seed": 2},
                                          {"peak": 1e7, "seed": 0}]
    assert [t.value for t in trials] == [0.5, 1.5, 2.5, float("inf")]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert Store.on(open_storage(url), url, "s").load()["k1"] == _result("k1", 1.5)


def test_the_stale_trial_callback_reaches_optuna_without_a_deprecation(tmp_path):
    """Optuna 4.9 renamed ``failed_trial_callback``; lrkit passes the name the installed
    Optuna takes, so no FutureWarning, and the callback is the one given."""
    import warnings

    def on_stale(study, trial):
        return None

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        s = open_storage(f"sqlite:///{tmp_path / 'h.db'}", heartbeat=5, grace=10,
                         on_stale=on_stale)
    getter = getattr(s, "get_heartbeat_stale_trial_callback", s.get_failed_trial_callback)
    assert (s.get_heartbeat_interval(), getter()) == (5, on_stale)
