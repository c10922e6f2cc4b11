"""``--task module:factory`` returning a compiled Keras 3 model: ``lrkit compare`` trains it
run by run with a real ``model.fit`` (KERAS_BACKEND=torch) and lrkit's Keras callback."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lrkit.cli import run  # noqa: E402

FACTORY = '''
import numpy as np


def make():
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int64")

    def build():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(2)])
        model.compile(keras.optimizers.SGD(momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        return model

    return {"keras": build, "data": (x[:80], y[:80], x[80:], y[80:]), "name": "keras-xor"}
'''
BASE = ["compare", "--task", "kfac_h4d:make", "-s", "constant", "-s", "cosine", "--seeds", "2",
        "--peaks", "0.1", "--epochs", "2", "--batch-size", "32", "-q", "--json"]


@pytest.fixture
def factory(tmp_path, monkeypatch):
    (tmp_path / "kfac_h4d.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    import kfac_h4d

    return kfac_h4d


def test_compare_trains_a_keras_model_with_model_fit(factory, tmp_path, capsys):
    assert run([*BASE, "-o", str(tmp_path / "o")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"]["name"] == "keras-xor" and report["task"]["metric"] == "accuracy"
    assert {r["label"] for r in report["schedules"]} == {"constant", "cosine"}
    cos = next(r for r in report["schedules"] if r["label"] == "cosine")
    assert cos["curves"]["eval_steps"] == [0, 3, 6]  # 80 rows / 32: 3 steps an epoch
    assert cos["runs"] == 2 and cos["diverged"] == 0 and cos["val_acc"] is not None

    # the stored run is exactly a by-hand model.fit under the same seed and schedule
    import lrkit
    from lrkit.keras import Callback

    x, y, xv, yv = factory.make()["data"]
    keras.utils.set_random_seed(1)
    model = factory.make()["keras"]()
    s = lrkit.parse(cos["schedule"])
    start = model.evaluate(xv, yv, batch_size=256, verbose=0, return_dict=True)
    assert cos["curves"]["val_loss"]["low"][0] <= start["loss"] <= \
        cos["curves"]["val_loss"]["high"][0]
    model.fit(x, y, batch_size=32, epochs=2, shuffle=True, verbose=0,
              validation_data=(xv, yv), callbacks=[Callback(s, "batch")])
    by_hand = model.evaluate(xv, yv, verbose=0, return_dict=True)["loss"]
    assert math.isclose(cos["final_val_loss"]["1"], by_hand, rel_tol=1e-6)
    assert cos["curves"]["lr"] == s.values(6).tolist()


def test_a_diverging_keras_run_is_stopped_and_counted(factory, tmp_path, capsys):
    argv = [*BASE, "--peaks", "1e6", "-o", str(tmp_path / "o")]
    assert run(argv) == 3  # every run diverged: no winner
    report = json.loads(capsys.readouterr().out)
    for r in report["schedules"]:
        assert r["diverged"] == 2 and r["score"] is None


@pytest.mark.parametrize(("args", "part"), [
    (["--momentum", "0.5"], "--momentum: a Keras task uses its compiled model's optimizer"),
    (["--optimizer", "adam"], "--optimizer: a Keras task uses"),
    (["--eval-every", "2"], "--eval-every: a Keras task uses"),
    (["--device", "cpu"], "--device: a Keras task uses"),
])
def test_what_a_keras_task_refuses(factory, tmp_path, capsys, args, part):
    db = tmp_path / "s.db"
    assert run([*BASE, *args, "-o", str(tmp_path / "o"), "--storage", f"sqlite:///{db}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lrkit: error: ") and part in err and err.count("\n") == 1
    assert not db.exists()


def test_train_runs_recovers_each_batch_loss(factory):
    from lrkit import constant
    from lrkit.experiment.keras_task import keras_task, train_runs

    task = keras_task("kfac_h4d:make", factory.make(), ())
    (res,) = train_runs(task, [("k", constant(0.0), 0)], steps=5, batch_size=32)
    # at learning rate 0 nothing moves: every batch's loss is the initial model's on it
    x, y = task.arrays[:2]
    keras.utils.set_random_seed(0)
    model = factory.make()["keras"]()
    losses = res.train_loss
    assert np.isfinite(losses).all() and len(losses) == 5
    whole = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)["loss"]
    first_epoch = losses[:3]  # batches of 32, 32, 16 in a shuffled order: their weighted mean
    assert math.isclose((32 * first_epoch[0] + 32 * first_epoch[1] + 16 * first_epoch[2]) / 80,
                        whole, rel_tol=1e-5)
    assert res.val_loss[0] == res.val_loss[-1]  # lr 0: the model never changed


def test_peaks_auto_and_find_lr_use_the_keras_range_test(factory, tmp_path, capsys):
    argv = [*BASE, "--peaks", "auto", "-o", str(tmp_path / "o")]
    assert run(argv) == 0
    report = json.loads(capsys.readouterr().out)
    lf = report["lr_find"]
    assert lf["seeds"] == [0] and lf["method"] == "fall" and lf["suggestion"] > 0
    assert report["config"]["peak_mode"] == "auto" and len(report["config"]["peaks"]) >= 5

    # lrkit find-lr: the same lrkit.keras.find_lr, its suggestion on stdout, the figure
    from lrkit.experiment.factories import load_factory
    from lrkit.experiment.keras_task import range_test

    out = tmp_path / "f"
    assert run(["find-lr", "--task", "kfac_h4d:make", "--seeds", "1", "--steps", "60",
                "--batch-size", "32", "-q", "-o", str(out)]) == 0
    printed = float(capsys.readouterr().out)
    again = range_test(load_factory("kfac_h4d:make"), 0, 32, steps=60, suggestion="fall")
    assert printed == float(f"{again.suggestion:.4g}")
    assert (out / "find_lr.png").read_bytes()[:4] == b"\x89PNG"
    assert run(["find-lr", "--task", "kfac_h4d:make", "--momentum", "0.5", "-q",
                "-o", str(out)]) == 2
    assert "--momentum: a Keras task uses" in capsys.readouterr().err
