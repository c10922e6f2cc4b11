"""The result store: a real Optuna study in a real SQLite file."""

from __future__ import annotations

import math

import optuna
import pytest

from lrkit.experiment.store import ATTR, Store


def _result(key, final=0.5, diverged=False):
    return {"key": key, "train_loss": [1.0, 0.9], "eval_steps": [0, 2],
            "val_loss": [2.0, None if diverged else final], "val_metric": None, "lr": [0.1, 0.1],
            "diverged": diverged, "diverged_at": 1 if diverged else None, "seconds": 0.1}


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'runs.db'}"


def test_put_load_round_trip_and_optuna_sees_params(url):
    st = Store(url, "s1")
    st.put({"key": "a", "peak": 0.1, "seed": 3, "label": "cosine"}, _result("a", 0.25))
    st.put({"key": "b", "peak": 10.0, "seed": 0}, _result("b", diverged=True))
    again = Store(url, "s1")  # a fresh connection: it is on disk
    got = again.load()
    assert got == {"a": _result("a", 0.25), "b": _result("b", diverged=True)}
    trials = optuna.load_study(study_name="s1", storage=url).get_trials()
    assert [t.params for t in trials] == [{"peak": 0.1, "seed": 3}, {"peak": 10.0, "seed": 0}]
    assert trials[0].value == 0.25 and math.isinf(trials[1].value)
    assert trials[0].user_attrs[ATTR]["label"] == "cosine"


def test_first_trial_per_key_wins_and_foreign_trials_are_ignored(url):
    st = Store(url, "s")
    st.put({"key": "a", "peak": 0.1, "seed": 0}, _result("a", 0.3))
    st.put({"key": "a", "peak": 0.1, "seed": 0}, _result("a", 0.9))
    st.study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)  # someone else's trials
    assert st.load() == {"a": _result("a", 0.3)}
    assert st.count() == 1


def test_studies_are_separate_and_notes_persist(url):
    a, b = Store(url, "a"), Store(url, "b")
    a.put({"key": "k", "peak": 0.1, "seed": 0}, _result("k"))
    assert b.load() == {}
    a.set_note("lr_find:x", {"suggestion": 0.1})
    assert Store(url, "a").get_note("lr_find:x") == {"suggestion": 0.1}
    assert Store(url, "a").get_note("missing") is None


@pytest.mark.parametrize("bad", ["nosuchdb://x/y", "sqlite:////no/such/dir/x.db", "", "not a url"])
def test_a_bad_storage_url_is_a_value_error_naming_it(bad):
    with pytest.raises(ValueError, match="--storage"):
        Store(bad)
