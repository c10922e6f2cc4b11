"""The loss law (lrkit.experiment.predict): areas, fitting, prediction, bad input; and the
forecast of a real built-in task's held-out schedule from its stored fitting runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from lrkit import parse
from lrkit.errors import InputError
from lrkit.experiment.predict import (
    DELAYS,
    MIN_POINTS,
    Curve,
    TissueLaw,
    areas,
    fit_law,
    predict,
)

N = 400
STEPS = np.arange(0, N + 1, 10)
PEAK = 0.1
UNTRAINED = 1e3  # above every loss the laws below reach at step >= 10


def _lr(spec: str) -> np.ndarray:
    return parse(spec).values(N)


CONST = _lr("constant(0.1)")
COS = _lr(f"cosine(init=0.1, steps={N})")
WSD = _lr(f"warmup(wsd(init=0.1, steps={N}, decay_steps={N // 5}), warmup_steps={N // 20})")


def _lam(delay: float) -> float:
    return 0.0 if delay == 0 else 1.0 - 1.0 / (delay * N)


def _curve(law: TissueLaw, lr: np.ndarray) -> Curve:
    loss = law.curve(lr, STEPS)
    loss[0] = UNTRAINED  # the untrained model's loss (step 0 is not fitted; it is the cap)
    return Curve(lr, STEPS, loss)


def test_areas_by_hand_with_momentum():
    # rates 1, 1, 0.5, 0.25: decreases before steps 2 and 3 are 0.5 and 0.25;
    # m = 0, 0, 0.5, 0.5 * 0.5 + 0.25 = 0.5; S2(s) = (1 - 0.5) * sum_{i<s} m_i
    s1, s2 = areas([1.0, 1.0, 0.5, 0.25], 0.5, 1.0, 4)
    assert s1.tolist() == [0.0, 0.25, 0.5, 0.625, 0.6875]
    assert s2.tolist() == [0.0, 0.0, 0.0, 0.25, 0.5]
    # a rise (warm-up) adds nothing to the annealing area
    assert areas([0.1, 0.5, 1.0], 0.0, 1.0, 3)[1].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_a_synthetic_curve_is_recovered_to_tight_tolerance():
    truth = TissueLaw(l0=0.3, a=0.25, alpha=0.7, c=0.5, lam=_lam(0.1), peak=PEAK, n=N,
                      cap=UNTRAINED)
    fit = fit_law([_curve(truth, CONST), _curve(truth, COS)])
    assert fit.lam == truth.lam and fit.peak == PEAK and fit.n == N and fit.cap == UNTRAINED
    for name in ("l0", "a", "alpha", "c"):
        assert getattr(fit, name) == pytest.approx(getattr(truth, name), rel=1e-4), name
    assert fit.error < 1e-6
    # and a schedule it never saw (warm-up, stable, 1-sqrt decay) is predicted exactly
    p = predict([fit], WSD, STEPS[1:])
    np.testing.assert_allclose(p.mean, truth.curve(WSD, STEPS[1:]), rtol=1e-5)
    assert math.isnan(p.low[0]) and p.finals == [pytest.approx(float(truth.curve(WSD)[-1]))]


@settings(max_examples=10, deadline=None, derandomize=True,
          phases=(Phase.explicit, Phase.generate))
@given(l0=st.floats(0.05, 1.0), a=st.floats(0.05, 1.0), alpha=st.floats(0.2, 1.5),
       share=st.floats(0.05, 0.9), delay=st.sampled_from(DELAYS))
def test_any_law_in_range_predicts_an_unseen_schedule(l0, a, alpha, share, delay):
    # S2 <= 1 (the whole decrease, in units of the peak): c < l0 keeps every loss > 0
    truth = TissueLaw(l0=l0, a=a, alpha=alpha, c=share * l0, lam=_lam(delay), peak=PEAK, n=N,
                      cap=UNTRAINED)
    fit = fit_law([_curve(truth, CONST), _curve(truth, COS)])
    want = truth.curve(WSD, STEPS[1:])
    got = fit.curve(WSD, STEPS[1:])
    assert np.max(np.abs(got - want) / want) < 2e-3
    assert fit.error < 1e-3


def test_the_seeds_give_the_interval():
    laws = [TissueLaw(0.3, 0.25, 0.7, c, 0.0, PEAK, N) for c in (0.4, 0.5, 0.6)]
    p = predict(laws, COS, [N])
    finals = [float(law.curve(COS, [N])[0]) for law in laws]
    assert p.finals == finals
    f = p.final
    assert f.mean == pytest.approx(np.mean(finals)) and f.n == 3
    # t(0.975, 2) * s / sqrt(3)
    assert f.ci == pytest.approx(4.302653 * np.std(finals, ddof=1) / math.sqrt(3))
    assert p.high[0] - p.mean[0] == pytest.approx(f.ci)


def test_no_prediction_exceeds_the_untrained_loss():
    law = TissueLaw(0.3, 0.25, 1.5, 0.5, 0.0, PEAK, N, cap=2.3)
    tiny_start = _lr(f"warmup(constant(0.1), warmup_steps={N // 2})") * 0 + 1e-6
    assert np.all(law.curve(tiny_start) <= 2.3)
    assert law.curve(tiny_start)[0] == 2.3


def _ok(n_points: int = 41) -> Curve:
    law = TissueLaw(0.3, 0.25, 0.7, 0.5, 0.0, PEAK, N)
    s = np.linspace(10, N, n_points).astype(int)
    return Curve(COS, s, law.curve(COS, s))


@pytest.mark.parametrize("curves, words", [
    ([], "at least one curve"),
    ([_ok(3), _ok(4)], f"at least {MIN_POINTS} evaluations"),
    ([Curve(COS, np.array([10, 20]), np.array([1.0, np.nan]))], "NaN or infinite at step(s) [20]"),
    ([Curve(COS, np.array([10, 20]), np.array([1.0, -1.0]))], "must be > 0"),
    ([Curve(-COS, STEPS, np.ones(len(STEPS)))], "finite and >= 0"),
    ([Curve(COS, STEPS, np.ones(3))], "of one length"),
    ([Curve(COS, np.array([10, N + 5]), np.ones(2))], f"steps must be in 0..{N}"),
    ([Curve(np.array([0.1]), np.array([1]), np.ones(1))], "at least 2"),
])
def test_bad_input_is_refused(curves, words):
    with pytest.raises(InputError) as e:
        fit_law(curves)
    assert words in str(e.value)


def test_predict_refuses_no_law_and_bad_steps():
    with pytest.raises(InputError, match="at least one fitted law"):
        predict([], COS)
    law = TissueLaw(0.3, 0.25, 0.7, 0.5, 0.0, PEAK, N)
    with pytest.raises(InputError, match=f"steps must be in 0..{N}"):
        law.curve(COS, [N + 1])
    with pytest.raises(InputError, match="finite"):
        predict([law], [0.1, float("nan")])
