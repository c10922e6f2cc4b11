"""lrkit.keras.find_lr: the range test on a compiled Keras 3 model with a real model.fit
(torch backend): the PyTorch range test's sweep and rule, everything restored afterwards."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import torch  # noqa: E402

import lrkit  # noqa: E402
import lrkit.keras  # noqa: E402
import test_keras as shared  # noqa: E402
from lrkit.experiment.lr_find import analyse, sweep  # noqa: E402

make_model, digits_data, one_torch_thread = (shared.make_model, shared.digits_data,
                                             shared.one_torch_thread)
STEPS = 40


def state(model: keras.Model) -> list[np.ndarray]:
    return [v.numpy().copy() for v in model.variables + model.optimizer.variables]


def test_same_sweep_and_rule_as_pytorch_and_everything_restored(digits: tuple, tmp_path: Path
                                                                ) -> None:
    x, y = digits[0][:1792], digits[1][:1792]  # 14 whole batches
    model = make_model(keras.optimizers.SGD(learning_rate=0.05))  # plain SGD: torch's update
    model.optimizer.build(model.trainable_variables)
    before = state(model)
    r = lrkit.keras.find_lr(model, x, y, batch_size=128, steps=STEPS, end=3.0, shuffle=False,
                            plot=str(tmp_path / "lr_find.png"))
    assert (tmp_path / "lr_find.png").stat().st_size > 10_000
    np.testing.assert_array_equal(r.lrs, sweep(1e-7, 3.0, STEPS).values(STEPS)[:len(r.lrs)])
    again = analyse(r.lrs, r.losses, planned=STEPS)
    assert again.suggestions == r.suggestions and again.diverged == r.diverged
    for a, b in zip(state(model), before):
        np.testing.assert_array_equal(a, b)  # weights, iterations, learning rate, moments
    assert float(model.optimizer.learning_rate) == pytest.approx(0.05)

    # the same model in PyTorch, through lrkit.find_lr: the same losses (float32 apart)
    dense = [layer for layer in model.layers if layer.weights]
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    with torch.no_grad():
        for lin, layer in zip((net[0], net[2]), dense, strict=True):
            kernel, bias = (w.numpy() for w in layer.weights)
            lin.weight.copy_(torch.tensor(kernel.T))
            lin.bias.copy_(torch.tensor(bias))
    batches = [(torch.tensor(x[i:i + 128]), torch.tensor(y[i:i + 128]))
               for i in range(0, len(x) - 127, 128)]
    ref = lrkit.find_lr(net, torch.optim.SGD(net.parameters(), lr=0.05),
                        torch.nn.functional.cross_entropy, batches, steps=STEPS, end=3.0)
    n = min(len(r.losses), len(ref.losses))
    assert n > STEPS // 2
    np.testing.assert_allclose(r.losses[:n], ref.losses[:n], rtol=2e-4)


def test_losses_are_each_batchs_own(digits: tuple) -> None:
    """Keras logs a running mean over an epoch; the sweep's epochs are one batch long."""
    x, y = digits
    model = make_model(0.1)
    first = model.evaluate(x[:128], y[:128], verbose=0, return_dict=True)["loss"]
    r = lrkit.keras.find_lr(model, x[:256], y[:256], batch_size=128, steps=4, end=1e-6,
                            shuffle=False)
    assert r.losses[0] == pytest.approx(first, rel=1e-6)
    # batches 0, 1, 0, 1: the fourth is the second batch after three updates at tiny rates
    second = model.evaluate(x[128:256], y[128:256], verbose=0, return_dict=True)["loss"]
    assert r.losses[1] == pytest.approx(second, rel=1e-4)
    assert r.losses[3] == pytest.approx(second, rel=1e-4)


def test_a_learning_rate_schedule_is_swapped_and_put_back(digits: tuple) -> None:
    x, y = digits
    own = lrkit.keras.Schedule(lrkit.cosine(0.1, steps=100))
    model = make_model(keras.optimizers.SGD(learning_rate=own, momentum=0.9))
    r = lrkit.keras.find_lr(model, x, y, batch_size=128, steps=STEPS)
    assert model.optimizer._learning_rate is own
    np.testing.assert_allclose(r.lrs, sweep(1e-7, 10.0, STEPS).values(STEPS)[:len(r.lrs)])
    assert 0 < len(r.lrs) <= STEPS and np.isfinite(r.suggestion)
    hist = model.fit(x, y, batch_size=128, epochs=1, verbose=0)  # and it trains on
    assert np.isfinite(hist.history["loss"][0])


def test_refusals(digits: tuple) -> None:
    x, y = digits
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        lrkit.keras.find_lr(make_model(0.1), x, y, steps=1)
    with pytest.raises(ValueError, match="epochs, steps_per_epoch cannot be passed"):
        lrkit.keras.find_lr(make_model(0.1), x, y, epochs=3, steps_per_epoch=2)
    bare = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="must be a compiled keras.Model"):
        lrkit.keras.find_lr(bare, x, y)
    bare.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="has no weights yet"):
        lrkit.keras.find_lr(bare, x, y)


def test_step_is_a_word_for_batch() -> None:
    cb = lrkit.keras.Callback(lrkit.constant(0.1), interval="step")
    assert cb.interval == "batch" and cb.get_config()["interval"] == "batch"


def test_the_docs_recipe_trains_at_the_suggestion(digits: tuple) -> None:
    """docs/keras-optax.md: the suggestion as the peak of a schedule put in the optimizer."""
    x, y = digits
    model = make_model(0.01)
    r = lrkit.keras.find_lr(model, x, y, batch_size=128, steps=STEPS)
    s = lrkit.warmup(lrkit.cosine(r.suggestion, steps=30), warmup_steps=3)
    model.optimizer.learning_rate = lrkit.keras.Schedule(s)
    hist = model.fit(x, y, batch_size=128, epochs=2, verbose=0)
    assert float(model.optimizer.learning_rate) == pytest.approx(s(int(model.optimizer.iterations)),
                                                                 rel=1e-6)
    assert hist.history["loss"][1] < hist.history["loss"][0]
