"""lrkit.keras.Callback: per-epoch/per-batch learning rates and plateau composition in fit."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import lrkit  # noqa: E402
import lrkit.keras  # noqa: E402
import test_keras as shared  # noqa: E402

RecordLR, fit, make_model = shared.RecordLR, shared.fit, shared.make_model
# fixtures: digits, small (explicitly named) and the autouse one_torch_thread
digits_data, small_data = shared.digits_data, shared.small_data
one_torch_thread = shared.one_torch_thread

SPE = 5  # `small` is 5 batches: 5 updates per epoch


def test_per_epoch_is_learning_rate_scheduler(small):
    s = lrkit.step_decay(0.1, factor=0.5, every=2, offset=1)
    rec = RecordLR()
    hist = fit(make_model(0.1), small, [lrkit.keras.Callback(s), rec], epochs=4)
    np.testing.assert_array_equal(rec.lrs, np.float32(s.values([e for e, _, _ in rec.seen])))
    np.testing.assert_allclose(hist.history["learning_rate"], s.values(4))


def test_per_batch_counts_updates_or_fractional_epochs(small):
    s = lrkit.warmup(lrkit.cosine(init=0.2, steps=12), warmup_steps=3)
    rec = RecordLR()
    fit(make_model(0.1), small, [lrkit.keras.Callback(s, interval="batch"), rec], epochs=3)
    assert rec.iterations == list(range(3 * SPE))
    np.testing.assert_array_equal(rec.lrs, np.float32(s.values(rec.iterations)))

    per_epoch = lrkit.exponential(0.1, k=0.5)
    rec = RecordLR()
    cb = lrkit.keras.Callback(per_epoch, interval="batch", steps_per_epoch=SPE)
    hist = fit(make_model(0.1), small, [cb, rec], epochs=2)
    its = np.array(rec.iterations, dtype=np.float64)
    np.testing.assert_array_equal(rec.lrs, np.float32(per_epoch.values(its / SPE)))
    # logs hold the value used by the last update of each epoch
    np.testing.assert_allclose(hist.history["learning_rate"],
                               per_epoch.values(np.array([SPE - 1, 2 * SPE - 1]) / SPE))


def _expected_with_plateau(s, val_losses, epochs):
    """The per-epoch rates, recomputed from the observed metrics with a fresh controller."""
    base, plateau = lrkit.split_plateau(s)
    ctl = plateau.state()
    out = []
    for e in range(epochs):
        lr = ctl.apply(base(e))
        out.append(lr)
        ctl.observe(val_losses[e], lr=lr)
    return out, ctl.reductions


def test_plateau_multiplies_the_schedule(small):
    # threshold=0.2 (rel): a val_loss less than 20% better counts as a plateau, so reductions
    # happen within a few real epochs.
    s = lrkit.cosine(init=0.1, steps=20, end=0.01) * lrkit.plateau(factor=0.5, patience=0,
                                                                   threshold=0.2)
    cb = lrkit.keras.Callback(s, monitor="val_loss")
    hist = fit(make_model(0.1), small, [cb], epochs=6, validation=True)
    want, reductions = _expected_with_plateau(s, hist.history["val_loss"], 6)
    assert reductions >= 1 and cb.controller.reductions == reductions
    np.testing.assert_allclose(hist.history["learning_rate"], want, rtol=1e-12)
    assert want[-1] < lrkit.split_plateau(s)[0](5)


def test_keras_reduce_on_plateau_cannot_do_this(small):
    """Keras' own ReduceLROnPlateau raises when the optimizer holds a schedule."""
    model = make_model(keras.optimizers.SGD(
        learning_rate=lrkit.keras.Schedule(lrkit.cosine(init=0.1, steps=20))))
    with pytest.raises(TypeError, match="not settable"):
        fit(model, small, [keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0,
                                                             min_delta=10.0)], epochs=2)


def test_resume_with_plateau_equals_uninterrupted(small, tmp_path):
    s = lrkit.exponential(0.1, k=0.05) * lrkit.plateau(factor=0.5, patience=0, threshold=0.2)
    straight_cb = lrkit.keras.Callback(s, interval="batch")
    straight = make_model(0.1)
    h_all = fit(straight, small, [straight_cb], epochs=4, validation=True)

    first_cb = lrkit.keras.Callback(s, interval="batch")
    first = make_model(0.1)
    h1 = fit(first, small, [first_cb], epochs=2, validation=True)
    first.save(tmp_path / "m.keras")
    (tmp_path / "cb.json").write_text(json.dumps({"config": first_cb.get_config(),
                                                  "state": first_cb.state_dict()}))

    saved = json.loads((tmp_path / "cb.json").read_text())
    cb = lrkit.keras.Callback.from_config(saved["config"])
    cb.load_state_dict(saved["state"])
    model = keras.models.load_model(tmp_path / "m.keras")
    h2 = fit(model, small, [cb], epochs=4, initial_epoch=2, validation=True)
    assert straight_cb.controller.reductions >= 1
    np.testing.assert_allclose(h1.history["learning_rate"] + h2.history["learning_rate"],
                               h_all.history["learning_rate"], rtol=1e-6)
    assert cb.state_dict()["plateau"]["reductions"] == straight_cb.controller.reductions
    for a, b in zip(straight.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_missing_monitor_warns_and_keeps_going(small, capsys):
    cb = lrkit.keras.Callback(lrkit.constant(0.05) * lrkit.plateau(), monitor="val_acc")
    hist = fit(make_model(0.1), small, [cb], epochs=2)
    assert "no 'val_acc'" in capsys.readouterr().out
    assert hist.history["learning_rate"] == [0.05, 0.05]


def test_verbose_prints_changes(small, capsys):
    cb = lrkit.keras.Callback(lrkit.step_decay(0.1, factor=0.5, every=1), verbose=1)
    fit(make_model(0.1), small, [cb], epochs=2)
    out = capsys.readouterr().out
    assert "Epoch 1: lrkit sets the learning rate to 0.1." in out
    assert "Epoch 2: lrkit sets the learning rate to 0.05." in out


def test_optimizer_with_a_schedule_is_refused_at_train_begin(small):
    model = make_model(keras.optimizers.SGD(
        learning_rate=lrkit.keras.Schedule(lrkit.constant(0.1))))
    with pytest.raises(TypeError, match="float learning_rate"):
        fit(model, small, [lrkit.keras.Callback(lrkit.constant(0.1))], epochs=1)


def test_config_and_state_are_json_builtins():
    s = lrkit.cosine(init=0.1, steps=10) * lrkit.plateau(patience=1)
    cb = lrkit.keras.Callback(s, interval="batch", steps_per_epoch=7, monitor="loss")
    cfg = json.loads(json.dumps(cb.get_config()))
    back = lrkit.keras.Callback.from_config(cfg)
    assert back.schedule == s and back.interval == "batch" and back.steps_per_epoch == 7
    cb.controller.observe(1.0)
    cb.controller.observe(2.0)
    cb.controller.observe(3.0)
    state = json.loads(json.dumps(cb.state_dict()))
    back.load_state_dict(state)
    assert back.controller.state_dict() == cb.controller.state_dict()
    assert back.value(3.0) == cb.value(3.0) < s(3.0)


@pytest.mark.parametrize("kwargs,match", [
    ({"interval": "steps"}, "interval must be 'epoch' or 'batch' \\(or 'step'\\), got 'steps'"),
    ({"steps_per_epoch": 10}, "steps_per_epoch=10 goes with interval='batch'"),
    ({"interval": "batch", "steps_per_epoch": 0}, "steps_per_epoch must be an integer >= 1, got 0"),
    ({"monitor": ""}, "monitor must be a logs key"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lrkit.keras.Callback(lrkit.constant(0.1), **kwargs)


def test_python_function_and_foreign_state_are_refused():
    with pytest.raises(TypeError, match="Python function"):
        lrkit.keras.Callback(lambda epoch: 0.1)
    cb = lrkit.keras.Callback(lrkit.constant(0.1))
    with pytest.raises(ValueError, match="has a plateau controller"):
        cb.load_state_dict({"last_lr": 0.1, "plateau": {}})
    with pytest.raises(ValueError, match="must come from state_dict"):
        cb.load_state_dict({"scale": 1.0})
