"""lrkit.keras.Schedule: an lrkit schedule inside a Keras 3 optimizer (torch backend)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import lrkit  # noqa: E402
import lrkit.keras  # noqa: E402
from lrkit.schedule import schedule_class  # noqa: E402

BATCH = 128

# Helpers shared with test_keras_callback.py and test_seed_examples.py (imported there; the
# fixtures carry explicit names so that importing them does not shadow the test arguments).


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models train ~20x faster on one thread when the cores are shared (xdist)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", name="digits")
def digits_data():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y.astype("int64")


@pytest.fixture(scope="module", name="small")
def small_data(digits):
    """5 batches: enough for exactness checks, short enough to keep fits fast."""
    x, y = digits
    return x[:5 * BATCH], y[:5 * BATCH]


def make_model(optimizer, seed: int = 0):
    """A 64-32-10 MLP, compiled with ``optimizer`` (a float means SGD(lr, momentum=0.9))."""
    if isinstance(optimizer, float):
        optimizer = keras.optimizers.SGD(learning_rate=optimizer, momentum=0.9)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=optimizer, metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class RecordLR(keras.callbacks.Callback):
    """(epoch, iterations, learning rate the update will use) before every batch.

    Put it after the lrkit callback: Keras runs callbacks in order.
    """

    def __init__(self):
        super().__init__()
        self.epoch = -1
        self.seen: list[tuple[int, int, float]] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        opt = self.model.optimizer
        self.seen.append((self.epoch, int(opt.iterations), float(opt.learning_rate)))

    @property
    def iterations(self) -> list[int]:
        return [i for _, i, _ in self.seen]

    @property
    def lrs(self) -> list[float]:
        return [lr for *_, lr in self.seen]


def fit(model, data, callbacks=(), epochs=3, initial_epoch=0, validation=False):
    x, y = data
    return model.fit(x, y, batch_size=BATCH, epochs=epochs, initial_epoch=initial_epoch,
                     shuffle=False, verbose=0, callbacks=list(callbacks),
                     validation_split=0.25 if validation else 0.0)


def test_values_are_the_schedule_cast_to_float32():
    s = lrkit.warmup(lrkit.cosine(peak=0.1, steps=10**7, end=1e-5), steps=1000)
    ks = lrkit.keras.Schedule(s)
    steps = [0, 1, 999, 1000, 123_457, 5_000_001, 10**7 - 1, 10**7, 3 * 10**7]
    got = [ks(keras.ops.convert_to_tensor(n, dtype="int64")) for n in steps]
    assert all(keras.backend.standardize_dtype(g.dtype) == "float32" for g in got)
    # computed in float64 and cast once: equal to the float64 value rounded to float32
    want = np.float32(s.values(np.array(steps, dtype=np.float64)))
    np.testing.assert_array_equal(np.array([float(g) for g in got], dtype=np.float32), want)


def test_steps_per_epoch_reads_fractional_epochs():
    s = lrkit.exponential(0.1, k=0.09)
    ks = lrkit.keras.Schedule(s, steps_per_epoch=10)
    assert float(ks(keras.ops.convert_to_tensor(25))) == pytest.approx(s(2.5), rel=1e-7)


def test_fit_uses_the_schedule_at_every_update_and_learns(digits):
    x, y = digits
    s = lrkit.warmup(lrkit.cosine(peak=0.2, steps=60), steps=6)
    model = make_model(keras.optimizers.SGD(learning_rate=lrkit.keras.Schedule(s), momentum=0.9,
                                            nesterov=True))
    rec = RecordLR()
    hist = fit(model, digits, [rec], epochs=4)
    its = rec.iterations
    assert its == list(range(len(its))) and len(its) == 4 * int(np.ceil(len(x) / BATCH))
    np.testing.assert_allclose(rec.lrs, s.values(its), rtol=1e-6, atol=1e-9)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert hist.history["accuracy"][-1] > 0.8


def test_save_load_restores_the_schedule_and_resumes_exactly(small, tmp_path):
    s = lrkit.step_decay(0.1, drop=0.5, every=4) * lrkit.linear(init=1.0, end=0.2, steps=12)

    def opt():
        return keras.optimizers.SGD(learning_rate=lrkit.keras.Schedule(s), momentum=0.9)

    straight = make_model(opt())
    fit(straight, small, epochs=3)

    first = make_model(opt())
    fit(first, small, epochs=2)
    path = tmp_path / "m.keras"
    first.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects
    ks = loaded.optimizer._learning_rate
    assert isinstance(ks, lrkit.keras.Schedule) and ks.schedule == s
    assert int(loaded.optimizer.iterations) == int(first.optimizer.iterations)
    rec = RecordLR()
    fit(loaded, small, [rec], epochs=3, initial_epoch=2)
    np.testing.assert_allclose(rec.lrs, s.values(rec.iterations), rtol=1e-6)
    for a, b in zip(straight.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_load_in_a_fresh_process_needs_only_the_import(tmp_path):
    s = lrkit.cosine(peak=0.1, steps=100)
    model = make_model(keras.optimizers.SGD(learning_rate=lrkit.keras.Schedule(s)))
    path = tmp_path / "m.keras"
    model.save(path)
    code = (
        "import keras, lrkit, lrkit.keras, sys\n"
        f"m = keras.models.load_model({str(path)!r})\n"
        "print(repr(m.optimizer._learning_rate.schedule))\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "torch", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert lrkit.parse(out.stdout.strip().splitlines()[-1]) == s


def test_config_round_trip_and_spec_strings():
    ks = lrkit.keras.Schedule("exponential(0.1, k=0.09)", steps_per_epoch=5, name="seed")
    cfg = ks.get_config()
    assert cfg == {"schedule": {"type": "exponential", "init": 0.1, "k": 0.09},
                   "steps_per_epoch": 5, "name": "seed"}
    back = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(ks))
    assert isinstance(back, lrkit.keras.Schedule)
    assert back.schedule == ks.schedule and back.steps_per_epoch == 5
    assert repr(back) == "lrkit.keras.Schedule(exponential(0.1, k=0.09), steps_per_epoch=5)"


def test_python_function_is_refused_with_the_alternatives():
    with pytest.raises(TypeError, match="Python function.*LearningRateScheduler"):
        lrkit.keras.Schedule(lambda epoch: 0.1 * 0.5 ** (epoch // 10))
    with pytest.raises(TypeError, match="lrkit schedule, a number or a spec string"):
        lrkit.keras.Schedule(object())


def test_plateau_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match="lrkit.keras.Callback"):
        lrkit.keras.Schedule(lrkit.cosine(peak=0.1, steps=10) * lrkit.plateau(patience=2))


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                        (True, TypeError), ("10", TypeError)])
def test_bad_steps_per_epoch(bad, error):
    with pytest.raises(error) as e:
        lrkit.keras.Schedule(lrkit.cosine(peak=0.1, steps=10), steps_per_epoch=bad)
    assert str(e.value) == (
        f"lrkit.keras.Schedule: steps_per_epoch must be an integer >= 1, got {bad!r}")


def test_steps_per_epoch_may_be_a_numpy_integer():
    ks = lrkit.keras.Schedule(lrkit.cosine(peak=0.1, steps=10), steps_per_epoch=np.int64(4))
    assert ks.steps_per_epoch == 4 and type(ks.steps_per_epoch) is int


@schedule_class
class _MathOnT(lrkit.Schedule):
    """A user schedule calling math.exp on t: fine for floats, not traceable."""

    name = "test_keras_math_on_t"
    init: float = 0.1

    def _f(self, t, xp):
        import math

        return self.init * math.exp(-0.1 * t)


def test_untraceable_formula_is_refused_before_training():
    assert _MathOnT()(10) == pytest.approx(0.1 * np.exp(-1.0))
    with pytest.raises(TypeError, match="cannot be evaluated with keras.ops"):
        lrkit.keras.Schedule(_MathOnT())


class _Unregistered(lrkit.Cosine):
    """A user subclass that forgot @schedule_class: its spec name is cosine's."""


def test_unserializable_schedule_fails_at_save_naming_the_fix(tmp_path):
    s = _Unregistered(peak=0.1, steps=10)
    model = make_model(keras.optimizers.SGD(learning_rate=lrkit.keras.Schedule(s)))
    with pytest.raises(TypeError, match=r"_Unregistered is not a registered.*schedule_class"):
        model.save(tmp_path / "m.keras")


def test_example_keras_digits_runs(capsys):
    """examples/keras_digits.py: Schedule + save/load, then Callback with a plateau factor."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "keras_digits.py"
    spec = importlib.util.spec_from_file_location("example_keras_digits", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(epochs=3)
    assert out["schedule_val_accuracy"] > 0.6 and out["callback_val_accuracy"] > 0.6
    assert "reloaded optimizer at step" in capsys.readouterr().out
