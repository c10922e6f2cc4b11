"""Tasks: built-in data and models, user files and factories, and their errors."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest
import torch

import lrkit
from lrkit.experiment.tasks import (
    BUILTIN,
    from_factory,
    from_file,
    get_task,
    mnist1d_task,
    tiny_lm_task,
)
from lrkit.experiment.trainer import Run, train

torch.set_num_threads(1)

#: the built-in tasks at test size (the full sizes run in benchmarks/)
SMALL = {**BUILTIN, "mnist1d": lambda: mnist1d_task(samples=600, width=8),
         "tiny-lm": lambda: tiny_lm_task(context=16, d=16, layers=1, heads=2,
                                         max_bytes=40_000, max_val=32)}
#: tasks whose split does not depend on the data seed (tiny-lm holds out files by name)
FIXED_SPLIT = {"tiny-lm"}


@pytest.mark.parametrize("name", list(BUILTIN))
def test_builtin_task_data_model_and_batched_model_agree(name):
    task = SMALL[name]()
    assert get_task(name).name == task.name == name
    xt, yt, xv, yv = task.data(0)
    assert len(xt) == len(yt) > len(xv) == len(yv) > 0
    assert task.data(0)[0] is xt  # cached
    again = SMALL[name]().data(0)
    assert torch.equal(again[0], xt) and torch.equal(again[3], yv)  # deterministic
    if name not in FIXED_SPLIT:
        assert not torch.equal(SMALL[name]().data(1)[1], yt)  # the seed changes the split
    if task.loss == "cross_entropy":
        assert yt.dtype == torch.int64 and int(yt.max()) == (125 if name == "tiny-lm" else 9)
    else:
        assert yt.dtype == torch.float32 and yt.dim() == 2
    m0, m0b, m1 = task.build(0), task.build(0), task.build(1)
    p0, p1 = next(m0.parameters()), next(m1.parameters())
    assert torch.equal(p0, next(m0b.parameters())) and not torch.equal(p0, p1)
    bm = task.batched([0, 1])
    with torch.no_grad():
        out = bm(xv[:5], shared=True)
        np.testing.assert_allclose(out[0].numpy(), m0(xv[:5]).numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out[1].numpy(), m1(xv[:5]).numpy(), rtol=1e-5, atol=1e-5)


def test_build_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    get_task("digits-mlp").build(5)
    assert torch.equal(torch.rand(3), expected)


def test_digits_is_standardised_on_the_training_split():
    xt, _, xv, _ = get_task("digits-mlp").data(0)
    assert xt.shape[1] == 64 and len(xt) + len(xv) == 1797
    used = xt.std(0) > 0
    np.testing.assert_allclose(xt.mean(0).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(xt.std(0, unbiased=False)[used].numpy(), 1, rtol=1e-4)
    assert get_task("digits-cnn").data(0)[0].shape[1:] == (1, 8, 8)


def _write_csv(path, rows):
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")


def test_from_csv_classification_and_regression(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    label = (x[:, 0] + x[:, 1] > 0).astype(int) * 2 + 5  # classes 5 and 7
    value = x @ [1.0, -2.0, 0.5]
    path = tmp_path / "d.csv"
    _write_csv(path, [["a", "b", "c", "label", "value"]]
               + [[*r, lab, v] for r, lab, v in zip(x, label, value)])
    clf = from_file(str(path), "label")
    assert clf.loss == "cross_entropy" and clf.metric == "accuracy"
    xt, yt, xv, _ = clf.data(0)
    assert xt.shape[1] == 4 and set(yt.tolist()) == {0, 1}  # value is a feature here
    reg = from_file(str(path), "value")
    assert reg.loss == "mse" and reg.metric is None
    (res,) = train(reg, [Run("r", lrkit.constant(0.05))], epochs=5)
    assert res.val_loss[-1] < 0.2 * res.val_loss[0]  # learns the linear target


def test_from_npz(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "d.npz"
    np.savez(path, X=rng.normal(size=(50, 4)), y=rng.integers(0, 3, 50))
    task = from_file(str(path), "y")
    assert task.loss == "cross_entropy" and task.data(0)[0].shape[1] == 4


def test_file_errors(tmp_path):
    with pytest.raises(ValueError, match="data file not found: .*missing.csv"):
        from_file(str(tmp_path / "missing.csv"), "y")
    path = tmp_path / "d.csv"
    _write_csv(path, [["a", "b"], [1, 2], [3, 4], [5, 6]])
    with pytest.raises(ValueError, match="has no column 'y'; columns: a, b"):
        from_file(str(path), "y")
    _write_csv(path, [["a", "b"]])
    with pytest.raises(ValueError, match="is empty"):
        from_file(str(path), "b")
    path.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        from_file(str(path), "b")
    _write_csv(path, [["a", "b"], ["x", 1], ["y", 2], ["z", 3]])
    with pytest.raises(ValueError, match="column 'a' is not numeric"):
        from_file(str(path), "b")
    pq = tmp_path / "d.parquet"
    pq.write_bytes(b"PAR1")
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="needs the packages 'pandas' and 'pyarrow'"):
            from_file(str(pq), "y")
    with pytest.raises(ValueError, match="unsupported extension '.txt'"):
        (tmp_path / "d.txt").write_text("a\n1\n")
        from_file(str(tmp_path / "d.txt"), "a")


FACTORY = textwrap.dedent(
    """
    import torch
    from torch import nn

    def make():
        g = torch.Generator().manual_seed(0)
        x = torch.randn(120, 5, generator=g)
        y = (x[:, 0] > 0).long()
        return {"model": lambda: nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2)),
                "data": (x[:100], y[:100], x[100:], y[100:])}

    def instance():
        x = torch.randn(40, 3)
        return nn.Linear(3, 1), (x[:30], x[:30, :1] * 2, x[30:], x[30:, :1] * 2)

    def broken():
        raise RuntimeError("no data here")
    """
)


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    (tmp_path / "lrkit_test_factory.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "lrkit_test_factory"
    sys.modules.pop("lrkit_test_factory", None)


def test_from_factory(factory_module):
    task = get_task(f"{factory_module}:make")
    assert task.loss == "cross_entropy" and task.metric == "accuracy"
    (res,) = train(task, [Run("f", lrkit.constant(0.1), seed=3)], epochs=3, batch_size=20)
    assert res.val_metric is not None and res.val_metric[-1] > 0.7
    inst = from_factory(f"{factory_module}:instance")
    assert inst.loss == "mse" and inst.init == "reset"
    a, b = inst.build(0), inst.build(1)
    assert not torch.equal(a.weight, b.weight) and torch.equal(a.weight, inst.build(0).weight)


def test_factory_and_name_errors(factory_module):
    with pytest.raises(ValueError, match="cannot import task module 'no_such_mod_xyz'"):
        get_task("no_such_mod_xyz:make")
    with pytest.raises(ValueError, match="has no callable 'nope'"):
        get_task(f"{factory_module}:nope")
    with pytest.raises(ValueError, match="failed: RuntimeError: no data here"):
        get_task(f"{factory_module}:broken")
    with pytest.raises(ValueError, match=r"task 'digits-cn'; did you mean 'digits-cnn'\? Built"):
        get_task("digits-cn")
    with pytest.raises(ValueError, match="unknown task 'zzz'. Built-in tasks"):
        get_task("zzz")


def test_import_experiment_package_is_light():
    import subprocess

    code = ("import sys, lrkit.experiment as e\n"
            "assert 'find_lr' in e.__all__\n"
            "print('torch' in sys.modules)\n"
            "e.Run\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


VERSIONED = textwrap.dedent(
    """
    import os
    import torch
    from torch import nn

    WIDTH = {width}

    def make():
        g = torch.Generator().manual_seed(int(os.environ.get("LRKIT_TEST_DATA_SEED", "0")))
        x = torch.randn(64, 3, generator=g)
        y = (x[:, 0] > 0).long()
        return {{"model": lambda: nn.Sequential(nn.Linear(3, WIDTH), nn.ReLU(),
                                               nn.Linear(WIDTH, 2)),
                "data": (x[:48], y[:48], x[48:], y[48:])}}
    """
)


class _Notes:
    def __init__(self):
        self.notes, self.trained = [], 0

    def phase(self, name, total):
        if name == "training":
            self.trained += total
        return lambda n: None

    def note(self, text):
        self.notes.append(text)


def test_a_changed_factory_never_reuses_old_runs(tmp_path, monkeypatch):
    """The run key holds the task's fingerprint: the factory module's source, its data and
    its initial model. Rerunning the same command resumes; after editing the factory (a
    comment only, or the model), or changing an environment variable that changes its
    data, every run is trained again."""
    from lrkit.experiment.compare import Options, run_compare

    mod = tmp_path / "lrkit_versioned_task.py"
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LRKIT_TEST_DATA_SEED", raising=False)
    opts = Options(task="lrkit_versioned_task:make", schedules=["constant"], steps=3,
                   seeds=[0], peaks="0.1", batch_size=16, out=str(tmp_path / "out"))

    def rerun(source):
        if source is not None:
            mod.write_text(source)
        sys.modules.pop("lrkit_versioned_task", None)
        notes = _Notes()
        res = run_compare(opts, notes)
        return notes, res.task["id"]

    first, id1 = rerun(VERSIONED.format(width=4))
    assert first.trained == 1 and not any("resuming" in n for n in first.notes)
    same, id2 = rerun(None)
    assert id2 == id1 and same.trained == 0 and any("resuming" in n for n in same.notes)
    comment, id3 = rerun(VERSIONED.format(width=4) + "# a comment\n")
    assert id3 != id1 and comment.trained == 1
    wider, id4 = rerun(VERSIONED.format(width=5))
    assert id4 not in (id1, id3) and wider.trained == 1
    monkeypatch.setenv("LRKIT_TEST_DATA_SEED", "1")
    env, id5 = rerun(None)
    assert id5 not in (id1, id3, id4) and env.trained == 1
    assert id1.startswith("factory:lrkit_versioned_task:make:")


def test_builtin_identities_include_what_defines_them():
    lm, m1 = tiny_lm_task(context=8, max_bytes=5000, max_val=4), mnist1d_task(samples=100)
    assert any(i.startswith("python ") for i in lm.identity)
    assert any(i.startswith("mnist1d ") for i in m1.identity)
    assert lm.fingerprint() == tiny_lm_task(context=8, max_bytes=5000, max_val=4).fingerprint()
    assert lm.fingerprint() != tiny_lm_task(context=8, max_bytes=6000, max_val=4).fingerprint()
    assert lm.with_recipe(steps=5).fingerprint() == lm.fingerprint()  # settings are keyed apart
