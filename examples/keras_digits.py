"""Keras 3 + lrkit on scikit-learn's digits: a schedule inside the optimizer, then the callback.

    KERAS_BACKEND=torch python examples/keras_digits.py [epochs]

1. ``lrkit.keras.Schedule``: warm-up + cosine over the whole run, SGD with
   Nesterov momentum; the model is saved and reloaded with its schedule.
2. ``lrkit.keras.Callback``: the same curve written in epochs, applied every
   batch at fractional epochs, times a plateau factor fed from ``val_loss``
   (Keras' own ReduceLROnPlateau refuses an optimizer that has a schedule).
"""

from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import lrkit  # noqa: E402
import lrkit.keras  # noqa: E402

BATCH = 64


def data() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y.astype("int64")


def model(optimizer: keras.optimizers.Optimizer) -> keras.Model:
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10)])
    m.compile(optimizer=optimizer, metrics=["accuracy"],
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def main(epochs: int = 8) -> dict[str, float]:
    x, y = data()
    steps = epochs * int(np.ceil(0.8 * len(x) / BATCH))

    # 1. the schedule inside the optimizer (t = optimizer updates)
    s = lrkit.warmup(lrkit.cosine(init=0.1, steps=steps, end=1e-3), warmup_steps=steps // 10)
    opt = keras.optimizers.SGD(learning_rate=lrkit.keras.Schedule(s), momentum=0.9,
                               nesterov=True)
    m = model(opt)
    h = m.fit(x, y, batch_size=BATCH, epochs=epochs, validation_split=0.2, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits.keras")
        m.save(path)
        back = keras.models.load_model(path)  # no custom_objects: the spec is in the file
    print(f"Schedule: {s!r}")
    print(f"  val_accuracy {h.history['val_accuracy'][-1]:.3f}; reloaded optimizer at "
          f"step {int(back.optimizer.iterations)}, lr {float(back.optimizer.learning_rate):.5f}"
          f" (= s({int(back.optimizer.iterations)}) = {s(int(back.optimizer.iterations)):.5f})")

    # 2. the callback: a schedule in epochs, applied every batch, times a plateau factor
    per_epoch = lrkit.cosine(init=0.1, steps=epochs, end=1e-3) * lrkit.plateau(
        factor=0.5, patience=0, threshold=0.05)
    cb = lrkit.keras.Callback(per_epoch, interval="batch",
                              steps_per_epoch=int(np.ceil(0.8 * len(x) / BATCH)))
    m2 = model(keras.optimizers.SGD(learning_rate=0.1, momentum=0.9))
    h2 = m2.fit(x, y, batch_size=BATCH, epochs=epochs, validation_split=0.2, verbose=0,
                callbacks=[cb])
    print(f"Callback: {per_epoch!r}")
    print("  lr at each epoch end:", ", ".join(f"{v:.4f}" for v in h2.history["learning_rate"]))
    print(f"  plateau reductions {cb.controller.reductions if cb.controller else 0}, "
          f"val_accuracy {h2.history['val_accuracy'][-1]:.3f}")
    return {"schedule_val_accuracy": h.history["val_accuracy"][-1],
            "callback_val_accuracy": h2.history["val_accuracy"][-1]}


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
