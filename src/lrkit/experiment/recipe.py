"""The comparison's method, in one place: its constants, default shapes and definitions.

Everything ``lrkit compare`` decides without being told lives here: the
default schedule shapes, the range test behind ``--peaks auto``, the peak
factors and how the grid is extended, the training defaults (which the
trainer, the range test and the CLI's options read too), and the texts that
define the report's figures (``results.json``'s ``definitions``). This module
is a leaf: it imports nothing from lrkit.

>>> DEFAULT_SHAPES["cosine"]
'cosine(init=P, steps=N)'
>>> auto_factors_text(), times(MAX_EXTEND)
('1/4, 1/2, 1, 2, 4', '4 times')
"""

from __future__ import annotations

from typing import Any

#: the version of the run recipe; part of every run key (bump when training changes)
RECIPE = 3

#: The default schedules, as shapes: ``N`` is the run's total number of optimizer
#: steps, ``P`` the peak being tried. The seed document's four (constant,
#: time-based, step-based, exponential), with its constants rewritten as fractions
#: of the run, then cosine, one-cycle and warmup-stable-decay.
DEFAULT_SHAPES: dict[str, str] = {
    "constant": "constant(P)",
    # P / (1 + 9 t/N): ends at P/10
    "time-based": "time_decay(P, k=9/N)",
    # halves at 25, 50 and 75 % of the run
    "step-based": "step_decay(P, factor=0.5, every=N/4)",
    # P 0.01^(t/N) = P exp(-ln(100) t/N): ends at P/100
    "exponential": "exponential(P, factor=0.01, every=N)",
    "cosine": "cosine(init=P, steps=N)",
    # 30 % up from P/25, then cosine down
    "one-cycle": "one_cycle(peak=P, steps=N)",
    # 5 % warm-up, stable, then a 1-sqrt decay over the last 20 %
    "wsd": "warmup(wsd(init=P, steps=N, decay_steps=N/5), warmup_steps=N/20)",
}
#: the names a shape may use: the run's length and the peak tried
SHAPE_NAMES = {"N": "the total number of optimizer steps", "P": "the peak being tried"}

#: The range test of ``lrkit find-lr`` and ``--peaks auto`` (one set of defaults): a
#: 200-step exponential sweep from 1e-7 to 10, lightly smoothed (fastai's 0.98 lags a
#: short sweep), stopped when the smoothed loss exceeds 4x its best (``diverge``), and
#: the suggestion rule chosen by measurement on every built-in task and four tables
#: (``benchmarks/range_test_rules.py``, docs/compare.md).
RANGE_TEST: dict[str, Any] = {"start": 1e-7, "end": 10.0, "steps": 200, "smooth": 0.9,
                              "diverge": 4.0, "suggestion": "fall"}
#: the range test runs on (at most) this many of the comparison's seeds; ``lrkit find-lr``'s
#: default seed count
RANGE_TEST_SEEDS = 3
#: the range test's suggestion rules (``--method``; :func:`lrkit.experiment.lr_find.analyse`)
SUGGESTIONS = ("valley", "steep", "minimum", "fall")
#: ``--peaks auto``: the range test's suggestion times these factors
AUTO_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: ``--peaks auto``: the factor between a grid edge and the peak added beyond it
EXTEND_FACTOR = 2.0
#: ``--peaks auto`` extends the grid (by one peak beyond each edge some schedule's best
#: peak sits at) at most this many times
MAX_EXTEND = 4
#: a winner must beat the baseline (the untrained model's or a trivial predictor's
#: validation loss, the lower) by more than this fraction of it
LEARNED_MARGIN = 0.05
#: peaks are rounded to this many significant digits (they read better so)
PEAK_DIGITS = 3

#: ``compare``'s entries that are optimizers, not schedules (``-s sf-sgd``): each trains
#: at a constant rate, the rate tuned on its own peak grid (see BASELINE_CENTRES). They are
#: not in the default set: each is a different optimizer from the comparison's, so it
#: answers another question ("do I need a schedule at all?") and costs a range test more.
BASELINES: dict[str, str] = {
    "sf-sgd": "Schedule-Free SGD (schedulefree.SGDScheduleFree), the comparison's momentum",
    "sf-adamw": "Schedule-Free AdamW (schedulefree.AdamWScheduleFree), the comparison's betas",
    "prodigy": "Prodigy, learning-rate-free Adam (prodigyopt.Prodigy); its rate multiplies "
               "its estimated step size d",
}
#: The centre of a baseline's peak grid (its rate at the schedules' middle peak; it is
#: tried at the same factors around it as the schedules around theirs). Prodigy's rate is
#: a multiplier, 1 as its authors advise; a Schedule-Free optimizer's is the suggestion of
#: a range test run with that optimizer (None here).
BASELINE_CENTRES: dict[str, float | None] = {"sf-sgd": None, "sf-adamw": None, "prodigy": 1.0}
#: a Schedule-Free baseline's own linear warm-up, as a fraction of the run (wsd's 5 %)
SF_WARMUP = 0.05

#: the fraction of the last training steps the oscillation figure looks at
OSC_WINDOW = 0.25
#: ... and the fewest steps it looks at
OSC_MIN_STEPS = 3

# -- training defaults (Options, the CLI, train, find_lr_task) -------------------------
# A task may set its own (``Task.recipe``, e.g. tiny-lm trains AdamW for a number of
# steps); these apply where neither the caller nor the task says otherwise.
OPTIMIZERS = ("sgd", "adam", "adamw")
OPTIMIZER = "sgd"
BATCH_SIZE = 64
MOMENTUM = 0.9
NESTEROV = False
WEIGHT_DECAY = 0.0
#: Adam's (beta1, beta2); None: (momentum, 0.999)
BETAS = None
EPS = 1e-8
#: the largest global gradient norm of a run (None: no clipping)
GRAD_CLIP = None
#: evaluate every this many optimizer steps (None: at the end of every epoch)
EVAL_EVERY = None
EPOCHS = 20
SEEDS = 5
#: every training setting with its default (what a Task.recipe may override, with
#: "steps", "epochs" and "seeds")
TRAINING: dict[str, Any] = {
    "batch_size": BATCH_SIZE, "optimizer": OPTIMIZER, "momentum": MOMENTUM,
    "nesterov": NESTEROV, "weight_decay": WEIGHT_DECAY, "betas": BETAS, "eps": EPS,
    "grad_clip": GRAD_CLIP, "eval_every": EVAL_EVERY, "device": "cpu",
}
#: where training runs (``--device``): "cpu", or "cuda" / "cuda:N" where present
DEVICE = "cpu"
#: runs trained together as one batched model
CHUNK = 35
#: the default target of classifiers ("steps to acc >= 0.95")
TARGET_ACC = 0.95
#: the task when none is given
TASK = "digits-mlp"
STUDY = "lrkit-compare"
OUT = "lrkit-out"
#: ``--peaks``: the range test's suggestion times AUTO_FACTORS
PEAKS = "auto"
#: ``--jobs``: worker processes (one torch thread each), each training a chunk at a time
JOBS = 1
#: ``--lease``: seconds without a heartbeat after which a claimed work item of a shared
#: comparison is given back (:mod:`lrkit.experiment.queue`)
LEASE = 30.0
#: ``lrkit tune --trials``: the search's budget of trials (each trains every seed)
TRIALS = 40
#: ``lrkit tune --heartbeat``: seconds between heartbeats of a claimed trial (RDB storage)
HEARTBEAT = 10


def auto_factors_text(sep: str = ", ") -> str:
    """``AUTO_FACTORS`` as text.

    >>> auto_factors_text(" x")
    '1/4 x1/2 x1 x2 x4'
    """
    def text(f: float) -> str:
        num, den = float(f).as_integer_ratio()  # exact: the factors are powers of two
        return str(num) if den == 1 else f"{num}/{den}" if den <= 100 else f"{f:g}"

    return sep.join(text(f) for f in AUTO_FACTORS)


def times(n: int) -> str:
    """``"once"``, ``"twice"``, ``"3 times"``.

    >>> times(1), times(3)
    ('once', '3 times')
    """
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


# -- definitions (results.json's "definitions", report.html's notes) -------------------

OSC_DEFINITION = (
    f"Oscillation: over the last {OSC_WINDOW:.0%} of optimizer steps (at least "
    f"{OSC_MIN_STEPS}), the standard deviation of the step-to-step changes of the training "
    "(minibatch) loss divided by its mean over that window; the mean over seeds at the best "
    "peak. Higher = the loss swings more late in training."
)
CI_DEFINITION = (
    "Mean \u00b1 95% interval over seeds: mean \u00b1 t(0.975, n\u22121)\u00b7s/\u221an "
    "(Student t, s = sample std)."
)
DEFINITIONS = {
    "oscillation": OSC_DEFINITION,
    "interval": CI_DEFINITION,
    "best_peak": "the peak with the lowest mean final validation loss over seeds "
                 "(a peak where any seed diverged never wins)",
    "verdict": "winner: the best schedule's mean final validation loss is below the "
               "baseline (the lower of the untrained model's validation loss and a trivial "
               "predictor's: the training mean for mse, the class frequencies for "
               f"cross-entropy) by more than {LEARNED_MARGIN:.0%} of it; otherwise no "
               "winner: all-diverged (no finite score) or learned-nothing",
    "steps_to_target": "first evaluation step meeting the target, lower median over "
                       "seeds (null unless at least half of the seeds reach it)",
}


# -- predicting (``lrkit compare --predict``, ``lrkit predict``) ------------------------
#: the fitting runs of the loss law: these default shapes at every peak and seed
PREDICT_FIT = ("constant", "cosine")
#: ``compare --predict`` trains this many of the best-predicted schedules (besides the
#: fitting runs), each at its predicted best peak. Measured (benchmarks/predict_accuracy.py):
#: with 1, the winner reported was within the full grid's winner's interval on digits-mlp,
#: mnist1d (600 steps) and a wine table, at 3.2x fewer runs than the full grid
PREDICT_TOP_K = 1
#: ``compare --predict`` trusts the law when its fit error (the median over peaks of the
#: mean relative error on the fitting runs) is at most this; else it trains everything.
#: Measured (benchmarks/predict_accuracy.py): 0.02-0.11 on digits-mlp, mnist1d and a wine
#: table, where the predicted winner was within the trained winner's interval; 0.25 is
#: over twice the worst of them (a law that misses a quarter of its own fitting curves)
PREDICT_MAX_ERROR = 0.25
#: the measured accuracy of the predictions, printed in ``--help`` (benchmarks/predict_accuracy.py,
#: docs/predict.md)
PREDICT_ACCURACY = (
    "Measured (Spearman rho of predicted vs trained final loss over the held-out default "
    "schedules x peaks; predicted winner within the trained winner's interval): mnist1d "
    "600 steps 0.90, yes; digits-mlp 0.82, yes; wine table 0.81, yes (differences at noise "
    "level). Experimental: the default compare trains everything."
)
