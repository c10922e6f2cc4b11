"""The comparison: schedules as shapes, the grid, the metrics, the summary, real runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lrkit
from lrkit.experiment import candidates, grid, recipe, stats
from lrkit.experiment import compare as cmp
from lrkit.experiment.progress import Silent
from lrkit.experiment.summary import summarize

N = 460


# -- schedules as shapes ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(recipe.DEFAULT_SHAPES))
@pytest.mark.parametrize("peak", [0.003, 0.1, 2.5])
def test_default_shapes_peak_at_the_peak_tried(name, peak):
    (c,) = candidates.parse_candidates([name])
    s = c.at(N, peak)
    v = s.values(N)
    assert v.max() == pytest.approx(peak, rel=1e-12)
    assert np.all(v >= 0) and np.all(np.isfinite(v))
    assert lrkit.parse(repr(s)) == s  # the stored spec reads back


def test_default_shapes_are_the_documented_curves():
    at = {c.label: c.at(N, 0.2) for c in candidates.parse_candidates(None)}
    assert [*at] == ["constant", "time-based", "step-based", "exponential", "cosine",
                     "one-cycle", "wsd"]
    assert at["time-based"](N) == pytest.approx(0.02, rel=1e-3)    # P / (1 + 9)
    assert at["exponential"](N) == pytest.approx(0.002, rel=1e-3)  # P / 100
    sd = at["step-based"]
    assert [sd(t) for t in (114, 115, 230, 345)] == pytest.approx([0.2, 0.1, 0.05, 0.025])
    assert at["cosine"](N // 2) == pytest.approx(0.1)
    oc = at["one-cycle"].values(N)
    assert oc[0] == pytest.approx(0.2 / 25) and int(np.argmax(oc)) == pytest.approx(0.3 * N, abs=2)
    w = at["wsd"].values(N)
    assert w[0] == 0 and w[30] == pytest.approx(0.2) and w[-1] < 0.2 * 0.3


def test_user_spec_is_a_shape_rescaled_to_each_peak_with_n_substituted():
    (c,) = candidates.parse_candidates(["half=cosine(init=7, steps=N/2)"])
    assert c.label == "half"
    s = c.at(N, 0.05)
    v = s.values(N)
    assert v.max() == pytest.approx(0.05)
    assert v[N // 4] == pytest.approx(0.025)            # the spec's own steps: N/2
    assert np.all(v[N // 2:] == 0)                      # then it holds its last value
    (as_written,) = candidates.parse_candidates(["cosine(init=7, steps=N)"], rescale=False)
    assert as_written.at(N, None) == lrkit.cosine(init=7, steps=N)
    with pytest.raises(ValueError, match="without a peak"):
        candidates.parse_candidates(["cosine"], rescale=False)


def test_a_shape_with_p_runs_as_written_unless_its_maximum_is_not_p():
    (c,) = candidates.parse_candidates(["cosine(init=P, steps=2*N)"])
    assert c.at(N, 0.05) == lrkit.cosine(init=0.05, steps=2 * N)  # max is P: not rescaled
    (late,) = candidates.parse_candidates(["warmup(constant(P), warmup_steps=2*N)"])
    s = late.at(N, 0.05)  # the warm-up never reaches P within the run: rescaled
    assert s.values(N).max() == pytest.approx(0.05, rel=1e-12)
    assert repr(s).endswith("* warmup(constant(0.05), warmup_steps=920)")
    with pytest.raises(ValueError, match="uses P"):
        candidates.parse_candidates(["cosine(init=P, steps=N)"], rescale=False)


def test_a_spec_is_parsed_once_and_its_errors_show_it_as_written(monkeypatch):
    import ast

    cands = candidates.parse_candidates(["cosine", "half=cosine(init=1, steps=N/2)"])
    calls = []
    real = ast.parse
    monkeypatch.setattr(ast, "parse", lambda *a, **k: calls.append(a) or real(*a, **k))
    runs = grid.plan(cands, [0.01, 0.1, 1.0], range(5), N, CONFIG)
    assert len(runs) == 30 and calls == []  # 30 schedules bound, none parsed again
    with pytest.raises(lrkit.SpecError, match=r"'cosine\(init=1, steps=N, end=-1\)'"):
        candidates.parse_candidates(["cosine(init=1, steps=N, end=-1)"])
    with pytest.raises(lrkit.SpecError, match="unknown name.* M; a shape may use N"):
        candidates.parse_candidates(["cosine(init=1, steps=M)"])


def test_a_schedule_file_may_hold_a_shape(tmp_path):
    f = tmp_path / "shape.json"
    f.write_text('"cosine(init=1, steps=N)"')
    (c,) = candidates.parse_candidates([str(f)])
    assert c.label == "shape" and c.at(N, 0.3) == 0.3 * lrkit.cosine(init=1, steps=N)


def test_schedule_files_and_names(tmp_path):
    f = tmp_path / "mine.json"
    f.write_text(lrkit.dumps(lrkit.linear(init=1.0, end=0.1, steps=300), "json"))
    cands = candidates.parse_candidates([str(f), "cosine", "x=" + str(f)])
    assert [c.label for c in cands] == ["mine", "cosine", "x"]
    assert cands[0].at(N, 0.3)(0) == pytest.approx(0.3)


@pytest.mark.parametrize("items, match", [
    (["cosin(peak=1, steps=N)"], "did you mean 'cosine'"),
    (["cosine(init=1, steps=N"], "cannot parse"),
    (["cosine", "cosine"], "duplicate"),
    ([""], "empty"),
    (["nofile.yaml"], "does not exist"),
])
def test_bad_schedules_fail_with_a_clear_message(items, match):
    with pytest.raises(ValueError, match=match):
        candidates.parse_candidates(items)


def test_a_zero_shape_cannot_be_rescaled():
    (c,) = candidates.parse_candidates(["constant(0)"])
    with pytest.raises(ValueError, match="positive maximum"):
        c.at(N, 0.1)


def test_peaks_and_seeds_parsing():
    assert candidates.parse_peaks("auto") == ("auto", recipe.AUTO_FACTORS)
    assert candidates.parse_peaks("auto:0.5,2") == ("auto", (0.5, 2.0))
    assert candidates.parse_peaks("0.1, 0.01,0.1") == ("fixed", (0.1, 0.01))
    assert candidates.parse_peaks("spec") == ("spec", ())
    for bad in ("", "fast", "0,0.1", "-1", "nan", "auto:"):
        with pytest.raises(ValueError, match="--peaks"):
            candidates.parse_peaks(bad)
    assert grid.parse_seeds(4) == [0, 1, 2, 3]
    assert grid.parse_seeds("5,2") == [5, 2]
    for bad in ("0", "x", "1,1", "-1,2", 0):
        with pytest.raises(ValueError, match="--seeds"):
            grid.parse_seeds(bad)


# -- the grid ------------------------------------------------------------------------------


CONFIG = {"task": "builtin:digits-mlp", "steps": N, "batch_size": 64, "optimizer": "sgd",
          "momentum": 0.9, "nesterov": False, "weight_decay": 0.0}


def test_plan_is_seed_major_and_keys_are_stable_and_label_free():
    cands = candidates.parse_candidates(["cosine", "constant"])
    p = grid.plan(cands, [0.01, 0.1], [0, 1], N, CONFIG)
    assert [(r.seed, r.label, r.peak) for r in p[:4]] == [
        (0, "cosine", 0.01), (0, "cosine", 0.1), (0, "constant", 0.01), (0, "constant", 0.1)]
    assert len({r.key for r in p}) == 8
    again = grid.plan(candidates.parse_candidates(["renamed=cosine"]), [0.01], [0], N, CONFIG)
    assert again[0].key == p[0].key
    other = grid.plan(cands, [0.01], [0], N, {**CONFIG, "batch_size": 32})
    assert other[0].key != p[0].key


def test_run_keys_are_pinned():
    """Stored runs are found again by key: the key of a run never changes by accident
    (this one was computed for recipe 3: the 0.2 vocabulary, one_cycle's new knots)."""
    (c,) = candidates.parse_candidates(["cosine"])
    (run,) = grid.plan([c], [0.1], [3], N, CONFIG)
    assert repr(run.schedule) == "cosine(init=0.1, steps=460)"
    assert run.key == "dd95a1ec462a604c10b2baa6"


def test_chunks_do_not_depend_on_what_is_done_and_run_duplicates_once():
    cands = candidates.parse_candidates(["cosine", "same=cosine", "constant"])
    p = grid.plan(cands, [0.1], [0, 1], N, CONFIG)
    chunks = grid.chunked(p, 3)
    keys = [r.key for c in chunks for r in c]
    assert len(keys) == len(set(keys)) == 4
    assert [len(c) for c in chunks] == [3, 1]
    with pytest.raises(ValueError, match="chunk size"):
        grid.chunked(p, 0)


# -- metrics -------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=40))
def test_mean_ci_is_the_t_interval(xs):
    scipy_stats = pytest.importorskip("scipy.stats")
    d = stats.mean_ci(xs)
    a = np.array(xs)
    assert d.mean == pytest.approx(a.mean(), abs=1e-9) and d.n == len(a)
    if a.std() == 0:
        assert d.ci == 0
        return
    lo, hi = scipy_stats.t.interval(0.95, len(a) - 1, loc=a.mean(), scale=scipy_stats.sem(a))
    assert d.ci == pytest.approx((hi - lo) / 2, rel=1e-5, abs=1e-9)


def test_t975_against_scipy_for_many_df():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in [*range(1, 80), 200, 10_000]:
        assert stats.t975(df) == pytest.approx(scipy_stats.t.ppf(0.975, df), abs=2e-6)


def test_mean_ci_leaves_out_non_finite_and_handles_one_value():
    assert stats.mean_ci([1.0, None, math.nan, math.inf]) == stats.MeanCI(1.0, None, 1)
    assert stats.mean_ci([]).to_dict() == {"mean": None, "ci": None, "n": 0}


def test_oscillation_definition():
    rng = np.random.default_rng(0)
    loss = np.abs(rng.normal(1, 0.3, 200))
    w = loss[150:]
    assert stats.oscillation(loss) == pytest.approx(np.std(np.diff(w)) / w.mean())
    assert stats.oscillation(np.ones(100)) == 0.0
    assert stats.oscillation([1.0, None, 2.0, 3.0]) is None
    assert stats.oscillation([1.0, 2.0]) is None


def _res(val_loss, acc=None, diverged=False, steps=(0, 10, 20)):
    return {"key": "k", "eval_steps": list(steps), "val_loss": list(val_loss),
            "val_metric": None if acc is None else list(acc), "diverged": diverged,
            "train_loss": [1.0] * 20, "lr": [0.1] * 20}


def test_steps_to_target():
    r = _res([2.0, 0.5, 0.2], acc=[0.1, 0.96, 0.97])
    assert stats.steps_to_target(r, {"acc": 0.95}) == 10
    assert stats.steps_to_target(r, {"loss": 0.3}) == 20
    assert stats.steps_to_target(r, {"loss": 0.3, "acc": 0.95}) == 20
    assert stats.steps_to_target(r, {"acc": 0.99}) == math.inf
    assert stats.steps_to_target(_res([2.0, None, None], diverged=True), {"loss": 1}) == math.inf
    assert stats.steps_to_target(r, None) == math.inf


# -- the summary ---------------------------------------------------------------------------


def _grid(finals):
    """Planned runs and results from {label: {peak: [final val loss per seed]}}
    (None = diverged)."""
    planned, results = [], {}
    for label, peaks in finals.items():
        for peak, seeds in peaks.items():
            for seed, f in enumerate(seeds):
                key = f"{label}/{peak}/{seed}"
                planned.append(grid.Planned(key, label, peak, seed, lrkit.constant(peak)))
                results[key] = _res([2.0, 1.0, f], acc=[0.1, 0.5, 0.9 if f else None],
                                    diverged=f is None)
    return planned, results


def test_summary_best_peak_rank_and_divergence():
    planned, results = _grid({
        "a": {0.1: [0.5, 0.7], 0.3: [0.2, None]},        # 0.3 has a diverged seed: never best
        "b": {0.1: [0.4, 0.4], 0.3: [0.3, 0.3]},
        "c": {0.1: [None, None], 0.3: [None, None]},      # all diverged: last, no score
    })
    rows = [r.to_dict() for r in summarize(planned, results, ["a", "b", "c"], {"acc": 0.85})]
    assert [r["label"] for r in rows] == ["b", "a", "c"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    b, a, c = rows
    assert b["best_peak"] == 0.3 and b["score"] == pytest.approx(0.3)
    assert a["best_peak"] == 0.1 and a["val_loss"]["mean"] == pytest.approx(0.6)
    assert a["diverged"] == 1 and a["runs"] == 4 and a["diverged_at_best"] == 0
    assert c["score"] is None and c["diverged"] == 4 and c["val_loss"]["n"] == 0
    assert b["steps_to_target"] == 20 and b["reached_target"] == 2
    assert c["steps_to_target"] is None
    assert a["peaks"] == {"0.1": pytest.approx(0.6), "0.3": None}
    assert b["curves"]["val_loss"]["mean"] == pytest.approx([2.0, 1.0, 0.3])
    assert b["edge"] and a["edge"]
    # paired: a - b seed by seed = (0.5 - 0.3, 0.7 - 0.3)
    assert b["vs_best"] is None and a["vs_best"]["mean"] == pytest.approx(0.3)
    assert a["vs_best"]["ci"] == pytest.approx(stats.t975(1) * 0.1 / 1)
    assert c["vs_best"]["n"] == 0


def test_extend_peaks_adds_the_next_peak_beyond_an_edge_for_everyone():
    best = [0.1, 0.3]  # the schedules' best peaks
    step = recipe.EXTEND_FACTOR
    assert grid.extend_peaks(best, [0.1, 0.3, 0.9]) == [candidates.round_sig(0.1 / step)]
    assert grid.extend_peaks(best, [0.1, 0.3]) == [candidates.round_sig(0.3 * step),
                                                   candidates.round_sig(0.1 / step)]
    assert grid.extend_peaks([0.3], [0.1, 0.3, 0.9]) == []
    assert grid.extend_peaks(best, [0.3]) == []


# -- real training ---------------------------------------------------------------------------


def test_run_compare_trains_the_grid_like_the_trainer_and_survives_divergence(tmp_path):
    """The orchestration really trains (each run equals the trainer's own result), and a
    diverging run is recorded as such without stopping the grid."""
    from lrkit.experiment.trainer import Run, train

    o = cmp.Options(schedules=["cosine", "constant"], epochs=2, seeds=2, peaks="0.05,1e4",
                    out=str(tmp_path), chunk_size=3)
    report = cmp.run_compare(o).to_dict()
    rows = {r["label"]: r for r in report["schedules"]}
    assert set(rows) == {"cosine", "constant"}
    assert report["config"]["steps"] == 2 * report["config"]["steps_per_epoch"]
    s = lrkit.parse(rows["cosine"]["schedule"])
    ref = train("digits-mlp", [Run("a", s, 0), Run("b", s, 1)], steps=report["config"]["steps"])
    finals = [r.final_val_loss for r in ref]
    assert rows["cosine"]["val_loss"]["mean"] == pytest.approx(np.mean(finals), rel=1e-5)
    assert rows["cosine"]["val_acc"]["mean"] > 0.5
    for row in rows.values():
        assert row["diverged"] == 2 and row["runs"] == 4 and row["diverged_at_best"] == 0
        assert row["best_peak"] == 0.05 and row["peaks"]["10000.0"] is None


def test_auto_peaks_use_the_range_test_once_and_extend_at_the_edge(tmp_path):
    o = cmp.Options(schedules=["constant", "cosine"], epochs=1, seeds=2, out=str(tmp_path))
    result = cmp.run_compare(o)
    assert result.lr_find is not None and len(result.lr_find.lrs) > 0  # the curve, typed
    report = result.to_dict()
    lf = report["lr_find"]
    assert lf["method"] == recipe.RANGE_TEST["suggestion"]
    assert lf["suggestion"] > 0 and lf["seeds"] == [0, 1]
    first = [candidates.round_sig(lf["suggestion"] * f) for f in recipe.AUTO_FACTORS]
    peaks = report["config"]["peaks"]
    n = len(recipe.AUTO_FACTORS)
    assert set(first) <= set(peaks) and len(peaks) <= n + 2 * recipe.MAX_EXTEND
    rounds = report["config"]["peak_extensions"]
    assert len(peaks) - n >= rounds  # each round adds one or two peaks
    assert rounds == recipe.MAX_EXTEND or not any(r["edge"] for r in report["schedules"])
    assert all(r["runs"] == 2 * len(peaks) for r in report["schedules"])

    class Spy(Silent):
        phases: list[tuple[str, int]] = []

        def phase(self, name, total):
            self.phases.append((name, total))
            return super().phase(name, total)

    again = cmp.run_compare(o, Spy()).to_dict()  # the range test is in the study: nothing runs
    assert all(total == 0 for _, total in Spy.phases) and len(Spy.phases) == rounds + 1
    assert again["schedules"] == report["schedules"] and again["lr_find"] == lf


def test_jobs_change_speed_not_results(tmp_path):
    kw = dict(schedules=["cosine", "constant"], epochs=1, seeds=2, peaks="0.05", chunk_size=2)
    one = cmp.run_compare(cmp.Options(out=str(tmp_path / "one"), jobs=1, **kw))
    two = cmp.run_compare(cmp.Options(out=str(tmp_path / "two"), jobs=2, **kw))
    assert one.rows == two.rows
