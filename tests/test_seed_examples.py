"""Every code example of the seed document, run today in Keras 3 and in PyTorch via lrkit.

Each test trains a small MLP on scikit-learn's digits for a few epochs and checks
that the learning rate used by every update equals the seed's formula, computed
by the seed's own code (copied verbatim into test_seed.py).
docs/seed-examples.md shows the same code side by side.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")

import lrkit  # noqa: E402
import lrkit.keras  # noqa: E402
import lrkit.torch  # noqa: E402
import test_keras as shared  # noqa: E402

BATCH, RecordLR, fit, make_model = shared.BATCH, shared.RecordLR, shared.fit, shared.make_model
# fixtures: digits, small (explicitly named) and the autouse one_torch_thread
digits_data, small_data = shared.digits_data, shared.small_data
one_torch_thread = shared.one_torch_thread

N = 5 * BATCH  # the `small` slice of digits: 5 updates per epoch

# The seed's code, verbatim (plus the imports it forgot), lives in test_seed.py.
from test_seed import (  # noqa: E402
    exponential_decay,
    seed_constant,
    seed_keras2_decay,
    seed_time_based_loop_all,
    step_decayer,
)

# ---- the lrkit equivalents: (schedule, unit, seed formula, epochs) --------------------------

EXAMPLES = {
    "constant": (lrkit.constant(0.05), "update", seed_constant, 3),
    # the loop body runs after each epoch: epoch e trains with the value after e passes
    "time_based_loop": (lrkit.time_decay(0.05, k=0.05 / 500, compounding=True), "epoch",
                        lambda e: float(seed_time_based_loop_all(e + 1)[e]), 4),
    "time_based_sgd_decay": (lrkit.time_decay(0.05, k=0.05 / 500), "update",
                             seed_keras2_decay, 3),
    "step_decayer": (lrkit.step_decay(0.1, factor=0.5, every=10, offset=1), "epoch",
                     step_decayer, 11),  # the first drop is at epoch 9
    "exponential": (lrkit.exponential(0.1, k=0.09), "epoch", exponential_decay, 4),
}


def _expected(seen: list[tuple[int, int, float]], unit: str, formula) -> list[float]:
    return [formula(e if unit == "epoch" else i) for e, i, _ in seen]


# ---- Keras 3 -----------------------------------------------------------------------------------


def _keras_fit(data, optimizer, callbacks=(), epochs=3):
    rec = RecordLR()
    hist = fit(make_model(optimizer), data, [*callbacks, rec], epochs=epochs)
    assert len(rec.seen) == epochs * N // BATCH
    assert np.isfinite(hist.history["loss"]).all()
    return rec.seen, hist


def _keras_lrkit(data, schedule, unit, epochs, momentum=0.0):
    if unit == "update":  # inside the optimizer, like Keras 2's decay
        opt = keras.optimizers.SGD(learning_rate=lrkit.keras.Schedule(schedule),
                                   momentum=momentum)
        return _keras_fit(data, opt, epochs=epochs)
    opt = keras.optimizers.SGD(learning_rate=0.01, momentum=momentum)
    return _keras_fit(data, opt, [lrkit.keras.Callback(schedule, interval="epoch")], epochs)


@pytest.mark.parametrize("name", EXAMPLES)
def test_keras(small, name):
    schedule, unit, formula, epochs = EXAMPLES[name]
    seen, _ = _keras_lrkit(small, schedule, unit, epochs)
    # the optimizer's variable is float32: the seed's float64 value rounded once
    np.testing.assert_array_equal([lr for *_, lr in seen],
                                  np.float32(_expected(seen, unit, formula)))


@pytest.mark.parametrize("name", EXAMPLES)
def test_torch(small, name):
    schedule, unit, formula, epochs = EXAMPLES[name]
    x, y = (torch.as_tensor(a) for a in small)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.0)
    sched = lrkit.torch.Scheduler(opt, schedule, interval="epoch" if unit == "epoch" else "step")
    seen, losses, it = [], [], 0
    for epoch in range(epochs):
        for b in range(0, N, BATCH):
            loss = torch.nn.functional.cross_entropy(model(x[b:b + BATCH]), y[b:b + BATCH])
            opt.zero_grad()
            loss.backward()
            seen.append((epoch, it, opt.param_groups[0]["lr"]))
            opt.step()
            losses.append(loss.item())
            it += 1
            if unit == "update":
                sched.step()
        if unit == "epoch":
            sched.step()
    assert all(type(lr) is float for *_, lr in seen)
    # time_decay(compounding=True) is a closed form (lgamma differences) of the seed's running
    # product; in float64 the two agree to ~3e-11 (see docs/seed-examples.md)
    rtol = 1e-10 if name == "time_based_loop" else 1e-14
    np.testing.assert_allclose([lr for *_, lr in seen], _expected(seen, unit, formula),
                               rtol=rtol, atol=0)
    assert np.isfinite(losses).all()


# ---- what Keras 3 does with the seed's code as written ---------------------------------------


def test_keras3_rejects_lr_argument():
    with pytest.raises(ValueError, match="not recognized.*'lr'"), pytest.warns(
            UserWarning, match="`decay` is no longer supported"):
        keras.optimizers.SGD(lr=0.05, momentum=0.0, decay=0.0, nesterov=False)


def test_keras3_silently_ignores_decay(small):
    with pytest.warns(UserWarning, match="`decay` is no longer supported"):
        opt = keras.optimizers.SGD(learning_rate=0.05, momentum=0.7, decay=0.05 / 500,
                                   nesterov=False)
    seen, _ = _keras_fit(small, opt, epochs=2)
    assert {lr for *_, lr in seen} == {np.float32(0.05)}  # no decay at all
    # the lrkit version decays exactly as Keras 2 did, momentum included
    seen, _ = _keras_lrkit(small, lrkit.time_decay(0.05, k=0.05 / 500), "update", 2,
                           momentum=0.7)
    np.testing.assert_array_equal([lr for *_, lr in seen],
                                  np.float32([seed_keras2_decay(i) for _, i, _ in seen]))
    assert seen[-1][2] < 0.05


@pytest.mark.parametrize("fn,name", [(step_decayer, "step_decayer"),
                                     (exponential_decay, "exponential")])
def test_learning_rate_scheduler_with_seed_function_equals_lrkit(small, fn, name):
    """The seed's LearningRateScheduler examples still run in Keras 3 and agree with lrkit."""
    schedule, _, _, epochs = EXAMPLES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        theirs, h1 = _keras_fit(small, keras.optimizers.SGD(learning_rate=0.01),
                                [keras.callbacks.LearningRateScheduler(fn)], epochs)
    ours, h2 = _keras_lrkit(small, schedule, "epoch", epochs)
    assert [lr for *_, lr in theirs] == [lr for *_, lr in ours]
    np.testing.assert_allclose(h1.history["learning_rate"], h2.history["learning_rate"],
                               rtol=1e-7)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-6)
