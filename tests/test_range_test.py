"""The range test's 'fall' rule, one range test for find-lr and compare, and the verdict:
no winner from runs that diverged or learned nothing (through the real CLI)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lrkit.cli import run
from lrkit.cli.experiment import COMPARE_RANGE_TEST_PNG, FIND_LR_PNG, NO_WINNER_EXIT
from lrkit.experiment.lr_find import FALL, SUGGESTIONS, analyse
from lrkit.experiment.recipe import LEARNED_MARGIN, RANGE_TEST
from lrkit.experiment.verdict import judge, trivial_loss, untrained_loss

torch.set_num_threads(1)

U = np.round(np.linspace(-4, 1, 51), 10)  # log10(lr), a tenth of a decade apart
LRS = 10.0 ** U


def _curve(u0: float, u1: float, rise: bool) -> np.ndarray:
    """1 before log10(lr) = u0, falling linearly to 0 at u1, then rising (or flat)."""
    y = np.clip((u1 - U) / (u1 - u0), 0, 1)
    return y + (np.clip(U - u1, 0, None) * 10 if rise else 0)


# -- the 'fall' rule -----------------------------------------------------------------------


def test_fall_is_minimum_over_10_when_the_curve_turns_up():
    # window: points 5 .. 45 (the first steps // 10 and the last 5 are dropped); the
    # lowest point is at log10(lr) = -1, so minimum = 10**-2; 80 % of the fall is done at
    # -3 + 0.8 * 2 = -1.4: fall = min(10**-1.4, 10**-2)
    r = analyse(LRS, _curve(-3, -1, rise=True), smooth=0.0, diverge=1e9)
    assert r.suggestions["minimum"] == pytest.approx(10**-2)
    assert r.suggestions["fall"] == pytest.approx(10**-2)


def test_fall_is_inside_the_fall_when_the_curve_never_turns_up():
    # the loss falls until the sweep's end (a tiny table memorised): the lowest point is
    # the window's last (10**0.5), minimum/10 = 10**-0.5 is past the fall; the 80 % point
    # of a fall from -3 to 1 is -3 + 0.8 * 4 = 0.2, and ... of the window's fall (it ends
    # at 0.5, where the loss is 0.125): first <= 1 - 0.8 * 0.875 = 0.3 at log10(lr) = -0.2
    r = analyse(LRS, _curve(-3, 1, rise=False), smooth=0.0, diverge=1e9)
    assert r.suggestions["minimum"] == pytest.approx(10**-0.5)
    assert r.suggestions["fall"] == pytest.approx(10**-0.5)
    r = analyse(LRS, _curve(-3, 3, rise=False), smooth=0.0, diverge=1e9)
    # window -3.5 .. 0.5: fall from 1 to 1 - 3.5/6; 80 % done where 1 - (u + 3)/6 <=
    # 1 - 0.8 * 3.5 / 6, i.e. u >= -0.2; minimum / 10 = 10**-0.5 is the smaller
    assert r.suggestions["fall"] == pytest.approx(10**-0.5)
    r = analyse(LRS, _curve(-3.5, 3, rise=False), smooth=0.0, diverge=1e9)
    assert math.log10(r.suggestions["fall"]) == pytest.approx(-0.5)


@settings(max_examples=60, deadline=None)
@given(u0=st.floats(-3.2, -2.0), width=st.floats(0.8, 2.0),
       noise=st.floats(0.0, 0.15), seed=st.integers(0, 2**16))
def test_fall_never_lands_in_a_noisy_flat_start(u0, width, noise, seed):
    """A flat start with noise up to 15 % of the fall, then the fall: 'fall' lands at or
    after the fall's start (or is the minimum rule, which a fall narrower than a decade
    puts earlier), never above the minimum rule."""
    rng = np.random.default_rng(seed)
    y = _curve(u0, u0 + width, rise=True)
    y = y + np.where(U < u0, noise * rng.uniform(-1, 1, len(U)), 0.0)
    r = analyse(LRS, y, smooth=0.0, diverge=1e9)
    fall = r.suggestions["fall"]
    assert math.log10(fall) >= u0 - 1e-9 or fall == r.suggestions["minimum"]
    if width >= 1.2:  # the minimum / 10 is past the start too
        assert math.log10(fall) >= u0 - 1e-9
    assert r.suggestions["fall"] <= r.suggestions["minimum"] * (1 + 1e-12)
    assert 0 < FALL < 1 and set(r.suggestions) == set(SUGGESTIONS)


def test_steep_lands_in_the_noise_where_fall_does_not():
    """The failure the issue saw on diabetes, by hand: a spike-and-drop in the flat start
    is steeper than the real fall, in log(lr)."""
    y = _curve(-1.5, -0.5, rise=True)
    y[12] += 0.5  # a noisy batch at 10**-2.8, then back to 1: a steep local drop
    r = analyse(LRS, y, smooth=0.0, diverge=1e9)
    assert r.suggestions["steep"] == pytest.approx(10 ** U[13])
    assert r.suggestions["fall"] == pytest.approx(10**-1.5)


# -- the verdict -----------------------------------------------------------------------------


def test_trivial_loss_is_the_loss_of_a_constant_predictor():
    g = torch.Generator().manual_seed(0)
    yt, yv = torch.randint(0, 4, (200,), generator=g), torch.randint(0, 4, (50,), generator=g)
    p = (torch.bincount(yt, minlength=4).double() + 1) / (200 + 4)
    ce = F.cross_entropy(p.log().expand(50, 4), yv).item()
    assert trivial_loss("cross_entropy", yt, yv) == pytest.approx(ce, rel=1e-12)
    ft, fv = torch.randn(100, 2, generator=g), torch.randn(30, 2, generator=g)
    mse = F.mse_loss(ft.double().mean(0).expand(30, 2), fv.double()).item()
    assert trivial_loss("mse", ft, fv) == pytest.approx(mse, rel=1e-12)
    tokens = torch.randint(0, 5, (10, 7), generator=g)  # one label per token
    flat = trivial_loss("cross_entropy", tokens.ravel(), tokens[:3].ravel())
    assert trivial_loss("cross_entropy", tokens, tokens[:3]) == flat


def test_untrained_loss_is_the_mean_over_seeds_at_step_0():
    runs = [{"seed": 0, "eval_steps": [0, 5], "val_loss": [2.0, 1.0]},
            {"seed": 0, "eval_steps": [0, 5], "val_loss": [2.0, 0.5]},  # same seed: once
            {"seed": 1, "eval_steps": [0, 5], "val_loss": [3.0, None]}]
    assert untrained_loss(runs) == 2.5
    assert math.isnan(untrained_loss([{"seed": 0, "eval_steps": [5], "val_loss": [1.0]}]))


def test_judge_needs_a_margin_below_the_baseline():
    bar = 1.0 - LEARNED_MARGIN
    assert judge([("a", bar - 1e-9)], untrained=1.0, trivial=2.0)["winner"] == "a"
    v = judge([("a", bar)], untrained=1.0, trivial=2.0)
    assert v["status"] == "learned-nothing" and v["winner"] is None and v["baseline"] == 1.0
    assert v["message"].startswith("NO WINNER") and "a, val loss" in v["message"]
    v = judge([("a", None), ("b", None)], untrained=1.0, trivial=1.0)
    assert v["status"] == "all-diverged" and v["winner"] is None
    # no baseline at all (no step-0 evaluation, no finite trivial loss): a finite score wins
    assert judge([("a", 5.0)], untrained=math.nan, trivial=math.nan)["winner"] == "a"


# -- through the real CLI ------------------------------------------------------------------


def _diabetes(path) -> str:
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*d.feature_names, "target"])
        for x, y in zip(d.data, d.target):
            w.writerow([repr(float(v)) for v in x] + [repr(float(y))])
    return str(path)


def test_all_diverged_names_no_winner(tmp_path, capsys):
    """Issue 9 class 8: --peaks 10000,1e6 printed 'winner: constant' and exited 0."""
    out = tmp_path / "o"
    argv = ["compare", "--peaks", "10000,1e6", "-s", "constant", "-s", "cosine", "--seeds", "2",
            "--epochs", "3", "--out", str(out)]
    assert run(argv) == NO_WINNER_EXIT == 3
    cap = capsys.readouterr()
    assert "winner: constant" not in cap.out + cap.err
    assert cap.err.rstrip("\n").splitlines()[-1] == (
        "lrkit: NO WINNER: every run diverged at every peak tried (try smaller peaks)")
    report = json.loads((out / "results.json").read_text())
    assert report["verdict"]["status"] == "all-diverged" and report["verdict"]["winner"] is None
    assert all(r["score"] is None for r in report["schedules"])
    html = (out / "report.html").read_text()
    assert "&mdash; NO WINNER</h1>" in html and 'class="win"' not in html
    # -q: no table, still the exit status and the one line
    assert run([*argv, "-q"]) == 3
    assert capsys.readouterr().err.startswith("lrkit: NO WINNER: every run diverged")


def test_diabetes_has_a_winner_that_learned(tmp_path, capsys):
    """The issue's command: 'steep' suggested 1.5e-6, every peak tried was 1e-7 .. 2e-5 and
    'winner: constant' had learned nothing (val loss 0.96)."""
    data = _diabetes(tmp_path / "diabetes.csv")
    out = tmp_path / "o"
    assert run(["compare", "--data", data, "--target", "target", "--seeds", "3",
                "-s", "cosine", "-s", "constant", "--out", str(out), "-q"]) == 0
    report = json.loads((out / "results.json").read_text())
    v, lf = report["verdict"], report["lr_find"]
    assert lf["method"] == RANGE_TEST["suggestion"] == "fall"
    assert 1e-3 < lf["suggestion"] < 0.1  # the good peaks are 9e-4 .. 0.34 (benchmark)
    assert v["status"] == "winner" and v["winner"] == report["schedules"][0]["label"]
    best = report["schedules"][0]["score"]
    assert best < 0.6 < (1 - LEARNED_MARGIN) * v["baseline"]  # learned: R^2 above 0.4
    assert not any(r["edge"] for r in report["schedules"])
    assert (out / COMPARE_RANGE_TEST_PNG).read_bytes()[:4] == b"\x89PNG"
    assert not (out / FIND_LR_PNG).exists() and not (out / "lr_find.png").exists()


def test_diabetes_at_tiny_peaks_learned_nothing(tmp_path, capsys):
    data = _diabetes(tmp_path / "diabetes.csv")
    out = tmp_path / "o"
    assert run(["compare", "--data", data, "--target", "target", "--seeds", "2",
                "-s", "cosine", "-s", "constant", "--peaks", "1e-7,1e-6", "--out", str(out),
                "--json"]) == 3
    cap = capsys.readouterr()
    report = json.loads(cap.out)
    v = report["verdict"]
    assert v["status"] == "learned-nothing" and v["winner"] is None
    assert report["schedules"][0]["score"] > (1 - LEARNED_MARGIN) * v["baseline"]
    assert "NO WINNER: the best runs" in cap.err and "winner: " not in cap.err.lower().replace(
        "no winner: ", "")
    assert "NO WINNER" in (out / "report.html").read_text()


def test_find_lr_and_compare_run_the_same_range_test(tmp_path, capsys):
    assert run(["find-lr", "--seeds", "2", "--out", str(tmp_path / "f"), "-q"]) == 0
    printed = float(capsys.readouterr().out)
    assert (tmp_path / "f" / FIND_LR_PNG).exists()
    assert not (tmp_path / "f" / COMPARE_RANGE_TEST_PNG).exists()
    base = ["compare", "-s", "constant", "--epochs", "1", "--seeds", "2", "-q", "--json"]
    run([*base, "--out", str(tmp_path / "c")])
    lf = json.loads(capsys.readouterr().out)["lr_find"]
    assert lf["method"] == RANGE_TEST["suggestion"] and lf["seeds"] == [0, 1]
    assert float(f"{lf['suggestion']:.4g}") == printed
    # --method picks another rule of the same stored sweep
    run([*base, "--method", "valley", "--out", str(tmp_path / "c")])
    lf2 = json.loads(capsys.readouterr().out)["lr_find"]
    assert lf2["method"] == "valley" and lf2["suggestion"] == lf["suggestions"]["valley"]
    assert lf2["suggestions"] == lf["suggestions"]
    assert run(["find-lr", "--seeds", "2", "--method", "valley", "--out", str(tmp_path / "f"),
                "-q"]) == 0
    assert float(capsys.readouterr().out) == float(f"{lf2['suggestion']:.4g}")
    assert run([*base, "--method", "slide", "--out", str(tmp_path / "c")]) == 2


def test_a_bad_method_is_refused_before_anything_runs(tmp_path):
    from lrkit.errors import InputError
    from lrkit.experiment.compare import Options, run_compare

    with pytest.raises(InputError, match=r"--method must be one of valley, steep, minimum, "
                                         r"fall, got 'slide'"):
        run_compare(Options(schedules=["constant"], peaks="0.1", method="slide",
                            out=str(tmp_path)))
    assert not (tmp_path / "lrkit.db").exists()
