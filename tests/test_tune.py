"""``lrkit tune``: the families, a real search on digits-mlp, its rerun through compare,
resume, refusals, and several real worker processes on a real PostgreSQL server (one of
them killed with SIGKILL)."""

from __future__ import annotations

import datetime
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit
from lrkit.cli import run
from lrkit.experiment.candidates import Candidate
from lrkit.experiment.compare import Options
from lrkit.experiment.families import FAMILIES, get_family
from lrkit.experiment.recipe import CHUNK, DEFAULT_SHAPES
from lrkit.experiment.storage import normalise
from lrkit.experiment.tune import PEAK_SPAN, TuneOptions, run_tune

# a tiny search: 2 seeds x 30 steps of digits-mlp, 4 trials in batches of 2, a fixed range
TINY = ["--task", "digits-mlp", "--steps", "30", "--seeds", "2", "--trials", "4", "--batch",
        "2", "--peaks", "0.01,1", "-q"]


def _opts(url: str, steps: int = 30, **kw) -> TuneOptions:
    base = {"trials": 4, "batch": 2, "peaks": "0.01,1", "storage": url, "study": "s"}
    return TuneOptions(Options(task="digits-mlp", steps=steps, seeds=2), **{**base, **kw})


# -- the families ---------------------------------------------------------------------------

POINT = {
    "wsd": st.fixed_dictionaries({
        "warmup_frac": st.sampled_from([0.0, 0.01, 0.05, 0.2]),
        "decay_frac": st.sampled_from([0.05, 0.2, 0.5, 1.0]),
        "shape": st.sampled_from(["linear", "cosine", "1-sqrt"]),
        "end_frac": st.sampled_from([0.0, 0.01, 0.1])}),
    "cosine": st.fixed_dictionaries({"warmup_frac": st.sampled_from([0.0, 0.03, 0.2]),
                                     "end_frac": st.sampled_from([0.0, 0.05])}),
    "one-cycle": st.fixed_dictionaries({
        "up_frac": st.sampled_from([0.05, 0.3, 0.5]), "div": st.floats(1, 100),
        "final_div": st.floats(1, 1e4), "shape": st.sampled_from(["cosine", "linear"])}),
}


@settings(max_examples=60, deadline=None)
@given(st.data(), st.sampled_from(sorted(FAMILIES)), st.integers(20, 3000),
       st.floats(1e-4, 10))
def test_every_point_is_a_spec_that_reads_back_and_peaks_at_its_peak(data, name, n, peak):
    params = {**data.draw(POINT[name]), "peak": peak}
    s = get_family(name).build(params, n)
    assert lrkit.parse(repr(s)) == s
    assert s.length == n
    top, want = float(np.max(s.values(n))), float(f"{peak:.4g}")
    if name == "one-cycle":  # its top is at t = up_frac * N, which may fall between steps
        assert want / 2 < top <= want * (1 + 1e-12)
    else:
        assert top == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(("shape", "params"), [
    ("cosine", {"warmup_frac": 0.0, "decay_frac": 1.0, "shape": "cosine", "end_frac": 0.0}),
    ("wsd", {"warmup_frac": 0.05, "decay_frac": 0.2, "shape": "1-sqrt", "end_frac": 0.0}),
])
@pytest.mark.parametrize("n", [460, 600, 2000])
def test_the_wsd_family_holds_the_default_compare_shapes(shape, params, n):
    peak = 0.1234
    want = Candidate(shape, lrkit.Shape(DEFAULT_SHAPES[shape])).at(n, peak).values(n)
    got = FAMILIES["wsd"].build({**params, "peak": peak}, n).values(n)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


# -- a real search --------------------------------------------------------------------------


def test_a_search_stores_readable_trials_and_its_best_reruns_through_compare(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 't.db'}"
    out = tmp_path / "out"
    assert run(["tune", *TINY, "--storage", url, "--study", "s", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert (out / "tune.png").stat().st_size > 10_000
    trials = res["trials"]
    assert sorted(t["number"] for t in trials) == [0, 1, 2, 3]
    assert res["this_worker"]["trained"] == [0, 1, 2, 3]
    values = [t["val_loss"]["mean"] for t in trials]
    assert values == sorted(values) and res["best"] == trials[0]
    for t in trials:  # the value is the mean over both seeds of the final validation loss
        assert t["val_loss"]["mean"] == pytest.approx(float(np.mean(t["losses"])), rel=1e-12)
    for t in optuna.load_study(study_name="s", storage=url).trials:  # readable params
        assert set(t.params) == {"peak", "warmup_frac", "decay_frac", "shape", "end_frac"}
        assert 0.01 <= t.params["peak"] <= 1 and t.user_attrs["lrkit"]["spec"]

    best = res["best"]
    assert res["rerun"].startswith(f'lrkit compare "{best["spec"]}" --peaks spec --steps 30 '
                                   "--seeds 0,1 --task digits-mlp")
    capsys.readouterr()
    assert run(["compare", best["spec"], "--peaks", "spec", "--steps", "30", "--seeds", "0,1",
                "--task", "digits-mlp", "--out", str(tmp_path / "c"), "--json", "-q"]) == 0
    again = json.loads(capsys.readouterr().out)["schedules"][0]
    assert again["val_loss"]["mean"] == pytest.approx(best["val_loss"]["mean"], rel=1e-9)
    assert list(again["final_val_loss"].values()) == pytest.approx(best["losses"], rel=1e-9)


def test_a_rerun_resumes_it_keeps_every_trial_and_trains_only_the_new_ones(tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    first = run_tune(_opts(url))
    assert first.trained_here == [0, 1, 2, 3]
    same = run_tune(_opts(url))
    assert same.trained_here == []
    assert [t.to_dict() for t in same.trials] == [t.to_dict() for t in first.trials]
    more = run_tune(_opts(url, trials=6))
    assert more.trained_here == [4, 5]
    kept = {t.number: t.to_dict() for t in more.trials}
    assert all(kept[t.number] == t.to_dict() for t in first.trials)


def test_one_worker_is_reproducible_and_jobs_change_nothing(tmp_path):
    a = run_tune(_opts(f"sqlite:///{tmp_path / 'a.db'}", trials=8))
    b = run_tune(_opts(f"sqlite:///{tmp_path / 'b.db'}", trials=8, jobs=2))
    assert [(t.number, t.spec, t.losses) for t in a.trials] == [
        (t.number, t.spec, t.losses) for t in b.trials]


def test_a_new_search_starts_at_the_default_shapes_and_tpe_alone_does_not(tmp_path):
    warm = run_tune(_opts(f"sqlite:///{tmp_path / 'w.db'}", steps=40, trials=8))
    by_number = sorted(warm.trials, key=lambda t: t.number)
    p = [0.05, 0.1, 0.2]  # the middle of 0.01 .. 1 (0.1) times 1/2, 1, 2
    want = [Candidate(c, lrkit.Shape(DEFAULT_SHAPES[c])).at(40, x)
            for c in ("wsd", "cosine") for x in p]
    for t, w in zip(by_number[:6], want):  # 40 steps: compare's N/20 and N/5 are whole
        np.testing.assert_allclose(lrkit.parse(t.spec).values(40), w.values(40), rtol=1e-12)
    cold = run_tune(_opts(f"sqlite:///{tmp_path / 'c.db'}", trials=2, warm_start=False))
    assert {t.spec for t in cold.trials}.isdisjoint(t.spec for t in by_number[:6])
    states = [t.state.name for t in optuna.load_study(
        study_name="s", storage=f"sqlite:///{tmp_path / 'w.db'}").trials]
    assert states == ["COMPLETE"] * 8


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "says"), [
    (["--family", "cosin"], "--family must be one of wsd, cosine, one-cycle, got 'cosin'"),
    (["--trials", "0"], "--trials must be an integer >= 1, got 0"),
    (["--batch", "0"], "--batch must be an integer >= 1, got 0"),
    (["--peaks", "1,0.1"], "--peaks must be 'auto' or a range LO,HI with 0 < LO < HI"),
    (["--storage", "postgresql://u:secret@127.0.0.1:1/db"],
     "--storage 'postgresql://u:***@127.0.0.1:1/db' cannot be opened"),
    (["--storage", "mongodb://x/y"], "unknown scheme or driver 'mongodb'"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, says):
    base = [a for a in TINY if a != "-q"]
    argv = ["tune", *base, "--out", str(tmp_path / "out"), *args]
    if "--storage" not in args:
        argv += ["--storage", f"sqlite:///{tmp_path / 'x.db'}"]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lrkit: error: ") and says in err, err
    assert "secret" not in err
    assert not (tmp_path / "x.db").exists() or "--storage" not in args
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_study_with_another_setup_is_refused_saying_what_differs(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 't.db'}"
    run_tune(_opts(url, trials=2))
    capsys.readouterr()
    argv = ["tune", *[a if a != "2" else "3" for a in TINY[:6]], *TINY[6:], "--storage", url,
            "--study", "s"]
    assert argv[argv.index("--seeds") + 1] == "3"
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert "study 's' is a search with a different setup (seeds: [0, 1] there, [0, 1, 2] " in err
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 2


# -- many workers on a real PostgreSQL server --------------------------------------------------


def _worker(url: str, *args: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "lrkit", "tune", "--task", "digits-mlp", "--seeds", "2",
            "--peaks", "0.01,1", "--storage", url, "--study", "w", "--json", "-q", *args]
    return subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(p: subprocess.Popen, timeout: float = 240) -> dict:
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err[-3000:]
    assert "given up as stale" not in err
    return json.loads(out)


def _trials(url: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name="w", storage=normalise(url)).get_trials()


def test_two_workers_on_postgresql_share_the_search_and_never_train_a_trial_twice(pg_url):
    args = ("--steps", "120", "--trials", "12", "--batch", "2")
    procs = [_worker(pg_url, *args) for _ in range(2)]
    try:
        reports = [_finish(p) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    trained = [set(r["this_worker"]["trained"]) for r in reports]
    assert all(trained), f"both workers should have trained some trials: {trained}"
    assert not trained[0] & trained[1]  # no trial twice
    trials = _trials(pg_url)
    complete = {t.number for t in trials if t.state.name == "COMPLETE"}
    assert complete == trained[0] | trained[1]
    assert 12 <= len(complete) <= 12 + 2 * 2  # the budget, plus at most a batch per worker
    assert all(t.state.name == "COMPLETE" for t in trials)
    ids = {r["this_worker"]["id"] for r in reports}
    for t in trials:  # each trial carries the worker that trained it
        assert t.user_attrs["lrkit"]["worker"] in ids
        w = t.user_attrs["lrkit"]["worker"]
        assert t.number in trained[[r["this_worker"]["id"] for r in reports].index(w)]
    specs = [t.user_attrs["lrkit"]["spec"] for t in trials]
    assert len(set(specs)) == len(specs)  # TPE seeded per trial: the workers drew apart


def test_a_sigkilled_worker_s_trial_is_retried_and_the_search_resumes(pg_url):
    args = ("--steps", "1500", "--trials", "5", "--batch", "1", "--heartbeat", "1",
            "--grace", "3")
    victim = _worker(pg_url, *args)
    try:
        deadline = time.monotonic() + 180
        while True:
            assert victim.poll() is None, victim.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no trial finished within 180 s"
            try:
                trials = _trials(pg_url)
            except Exception:  # noqa: BLE001 - the study does not exist yet
                trials = []
            old = datetime.datetime.now() - datetime.timedelta(seconds=0.3)
            if sum(t.state.name == "COMPLETE" for t in trials) >= 2 and any(
                    t.state.name == "RUNNING" and t.datetime_start < old for t in trials):
                break  # a trial in training for 0.3 s: far from its end (1500 steps)
            time.sleep(0.05)
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
    victim.stdout.close()
    victim.stderr.close()
    assert victim.returncode == -signal.SIGKILL
    before = {t.number: t for t in _trials(pg_url) if t.state.name == "COMPLETE"}
    stale = [t for t in _trials(pg_url) if t.state.name == "RUNNING"]
    assert len(before) >= 2 and len(stale) == 1

    report = _finish(_worker(pg_url, *args))
    after = _trials(pg_url)
    complete = {t.number: t for t in after if t.state.name == "COMPLETE"}
    assert len(complete) == 5  # the budget, exactly: one worker left
    for n, t in before.items():  # finished before the kill: kept as they were, not retrained
        assert complete[n].value == t.value and complete[n].user_attrs == t.user_attrs
        assert n not in report["this_worker"]["trained"]
    assert set(report["this_worker"]["trained"]) == set(complete) - set(before)
    failed = [t for t in after if t.state.name == "FAIL"]
    assert [t.number for t in failed] == [stale[0].number]  # given up after the grace period
    retried = [t for t in complete.values() if t.params == failed[0].params]
    assert len(retried) == 1 and retried[0].number in report["this_worker"]["trained"]
    assert math.isfinite(report["best"]["val_loss"]["mean"])


def test_the_docs_list_every_family_as_it_is():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "tune.md").read_text()
    for name, fam in FAMILIES.items():
        assert f"| `{name}`" in doc and f"`{fam.template}`" in doc, name
    assert f"`{CHUNK} // seeds`" in doc and f"/ {PEAK_SPAN:g} to x{PEAK_SPAN:g}" in doc
