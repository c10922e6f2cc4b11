"""The batched trainer equals one-run PyTorch training, run by run; divergence stays local."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import lrkit
from lrkit.experiment.tasks import Task
from lrkit.experiment.trainer import Run, RunResult, steps_per_epoch, train, train_one

F64 = torch.float64
torch.set_num_threads(1)  # tiny models: one thread is fastest, and the cores are shared


def _same(a: RunResult, b: RunResult, rtol: float) -> None:
    assert a.key == b.key
    assert a.diverged == b.diverged and a.diverged_at == b.diverged_at
    np.testing.assert_array_equal(a.eval_steps, b.eval_steps)
    np.testing.assert_allclose(a.lr, b.lr, rtol=1e-15)
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=rtol, atol=rtol * 1e-2)
    if a.val_metric is None:
        assert b.val_metric is None
    else:
        np.testing.assert_allclose(a.val_metric, b.val_metric, atol=1e-12)


RUNS = [
    Run("cos-0", lrkit.cosine(init=0.2, steps=46), seed=0),
    Run("wsd-1", lrkit.warmup(lrkit.wsd(init=0.05, steps=46, decay_steps=10), warmup_steps=5),
        seed=1),
    Run("step-2", lrkit.step_decay(0.1, factor=0.5, every=10), seed=2),
]


def test_batched_equals_one_run_training_float64_sgd_momentum():
    batched = train("digits-mlp", RUNS, epochs=2, dtype=F64)
    assert [r.key for r in batched] == [r.key for r in RUNS]
    for run, b in zip(RUNS, batched):
        _same(train_one("digits-mlp", run, epochs=2, dtype=F64), b, rtol=1e-10)
    # it really trained: the loss fell and the runs differ
    for b in batched:
        assert b.val_loss[-1] < 0.6 * b.val_loss[0]
        assert b.val_metric is not None and b.val_metric[-1] > 0.8
    assert batched[0].train_loss[0] != batched[1].train_loss[0]


@pytest.mark.parametrize(
    "opt",
    [
        dict(optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=1e-3),
        dict(optimizer="sgd", momentum=0.0),
        dict(optimizer="adam", momentum=0.9, weight_decay=1e-3),
        dict(optimizer="adamw", momentum=0.8, weight_decay=1e-2),
    ],
    ids=["nesterov-wd", "plain", "adam", "adamw"],
)
def test_batched_equals_torch_optim_for_each_optimizer(opt):
    runs = [Run("a", lrkit.constant(0.01), seed=3), Run("b", lrkit.linear(init=0.02, end=0.001,
                                                                          steps=30), seed=4)]
    batched = train("teacher-student", runs, steps=30, batch_size=32, dtype=F64, **opt)
    for run, b in zip(runs, batched):
        _same(train_one("teacher-student", run, steps=30, batch_size=32, dtype=F64, **opt), b,
              rtol=1e-10)


def test_batched_cnn_equals_one_run_training():
    runs = [Run("a", lrkit.constant(0.05), seed=0), Run("b", lrkit.constant(0.02), seed=7)]
    batched = train("digits-cnn", runs, steps=12, batch_size=32, dtype=F64)
    for run, b in zip(runs, batched):
        _same(train_one("digits-cnn", run, steps=12, batch_size=32, dtype=F64), b, rtol=1e-10)


def test_batched_batchnorm_model_equals_one_run_training():
    """BatchNorm's running statistics are per run in the batched model too."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 4, generator=g)
    y = (x[:, 0] > 0).long()
    task = Task("bn", lambda s: (x[:80], y[:80], x[80:], y[80:]),
                lambda: nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(),
                                      nn.Linear(8, 2)))
    runs = [Run("a", lrkit.constant(0.1), 1), Run("b", lrkit.constant(0.05), 2)]
    batched = train(task, runs, steps=10, batch_size=16, dtype=F64)
    for run, b in zip(runs, batched):
        _same(train_one(task, run, steps=10, batch_size=16, dtype=F64), b, rtol=1e-10)


def test_batched_equals_one_run_training_float32_over_three_epochs():
    run = Run("one", lrkit.one_cycle(peak=0.1, steps=69), seed=5)
    (b,) = train("digits-mlp", [run, Run("other", lrkit.constant(0.3), seed=9)], epochs=3)[:1]
    one = train_one("digits-mlp", run, epochs=3)
    _same(one, b, rtol=1e-4)
    np.testing.assert_allclose(one.val_loss, b.val_loss, rtol=1e-5)


def test_divergence_is_local_and_frozen():
    good = Run("good", lrkit.cosine(init=0.1, steps=40), seed=1)
    bad = Run("bad", lrkit.constant(1e6), seed=2)
    alone = train("digits-mlp", [good], steps=40, dtype=F64)[0]
    with_bad = {r.key: r for r in train("digits-mlp", [bad, good], steps=40, dtype=F64)}
    _same(alone, with_bad["good"], rtol=1e-10)
    assert not with_bad["good"].diverged
    b = with_bad["bad"]
    assert b.diverged and b.diverged_at is not None and b.diverged_at < 40
    assert np.all(np.isnan(b.train_loss[b.diverged_at:]))
    assert np.all(np.isfinite(b.train_loss[:b.diverged_at]))
    assert np.isnan(b.val_loss[-1])
    assert np.all(np.isfinite(b.lr))  # the schedule is still recorded
    _same(train_one("digits-mlp", bad, steps=40, dtype=F64), b, rtol=1e-10)


def test_same_seed_same_result_and_seed_changes_init_and_order():
    s = lrkit.constant(0.05)
    a, b, c = train("noisy-quadratic", [Run("a", s, 0), Run("b", s, 0), Run("c", s, 1)], epochs=1)
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    assert not np.allclose(a.train_loss, c.train_loss)


def test_plateau_schedule_reduces_lr_and_matches_reference():
    s = lrkit.constant(0.5) * lrkit.plateau(factor=0.5, patience=0, threshold=0.5)
    run = Run("p", s, seed=0)
    (b,) = train("noisy-quadratic", [run], epochs=3, dtype=F64)
    spe = steps_per_epoch("noisy-quadratic", 64)
    assert b.lr[0] == 0.5 and b.lr[-1] < 0.5
    assert np.all(b.lr[:spe] == 0.5)  # reductions happen only at epoch ends
    _same(train_one("noisy-quadratic", run, epochs=3, dtype=F64), b, rtol=1e-10)


def test_result_fields_lr_progress_and_json_round_trip():
    calls = []
    sched = lrkit.exponential(0.1, factor=0.99)
    (r,) = train("digits-mlp", [Run("x", sched, 0)], epochs=2, batch_size=100,
                 progress=lambda done, total: calls.append((done, total)))
    spe = steps_per_epoch("digits-mlp", 100)
    assert spe == math.ceil(1438 / 100)
    total = 2 * spe
    assert calls == [(k, total) for k in range(1, total + 1)]
    assert r.lr.tolist() == sched.values(total).tolist()
    assert r.eval_steps.tolist() == [0, spe, 2 * spe] and len(r.val_loss) == 3
    assert r.seconds > 0 and not r.diverged
    r.train_loss[3] = np.nan
    text = json.dumps(r.to_dict(), allow_nan=False)
    back = RunResult.from_dict(json.loads(text))
    np.testing.assert_array_equal(back.train_loss, r.train_loss)
    np.testing.assert_array_equal(back.val_metric, r.val_metric)
    assert back.to_dict() == r.to_dict()


def test_steps_stop_mid_epoch_and_evaluate_at_the_end():
    (r,) = train("noisy-quadratic", [Run("x", lrkit.constant(0.1), 0)], steps=40)
    spe = steps_per_epoch("noisy-quadratic", 64)
    assert r.eval_steps.tolist() == [0, spe, 40] and len(r.train_loss) == 40


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epochs=1, optimizer="rmsprop"), "optimizer must be one of"),
        (dict(epochs=1, steps=3), "exactly one of epochs and steps"),
        (dict(), "exactly one of epochs and steps"),
        (dict(epochs=0), "epochs must be an integer >= 1"),
        (dict(epochs=1, batch_size=0), "batch_size must be an integer >= 1"),
        (dict(epochs=1, momentum=1.5), "momentum must be in"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train("noisy-quadratic", [Run("x", lrkit.constant(0.1))], **kwargs)


def test_bad_runs():
    s = lrkit.constant(0.1)
    with pytest.raises(ValueError, match="'x' appears twice"):
        train("noisy-quadratic", [Run("x", s), Run("x", s, 1)], epochs=1)
    with pytest.raises(ValueError, match="runs is empty"):
        train("noisy-quadratic", [], epochs=1)
    with pytest.raises(TypeError, match="schedule must be an lrkit Schedule"):
        Run("x", 0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown task 'digits-mpl'; did you mean 'digits-mlp'"):
        train("digits-mpl", [Run("x", s)], epochs=1)
