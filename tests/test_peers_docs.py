"""Every table row of docs/migrating.md, checked: the peer's own library (called here) gives
the values of the row's lrkit spec, and the row's ``lrkit.peers`` call (or ``from_torch``)
gives exactly that spec. The tolerances are the ones of tests/test_peers_*.py: 1e-12
relative plus ``64 * eps * peak`` for float64 peers (PyTorch, Hugging Face, timm), 2e-6
relative plus ``8 * eps32 * peak`` for the float32 ones (Keras on torch, optax without x64).
"""

import os
import re
import warnings
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import lrkit  # noqa: E402
import lrkit.peers  # noqa: E402

PAGE = Path(__file__).resolve().parent.parent / "docs" / "migrating.md"
LR = 0.1
EPS = np.finfo(float).eps
EPS32 = float(np.finfo(np.float32).eps)


def rows(section):
    """The code cells of each table row under ``## section``."""
    text = PAGE.read_text(encoding="utf-8").split(f"\n## {section}\n", 1)[1].split("\n## ")[0]
    out = []
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            out.append(tuple(re.fullmatch(r"`(.+)`", c).group(1) for c in cells))
    assert out, f"no table under ## {section}"
    return out


def float64_close(mine, theirs):
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=64 * EPS * max(mine.max(), LR))


def float32_close(mine, theirs):
    np.testing.assert_allclose(mine, theirs, rtol=2e-6, atol=8 * EPS32 * mine.max())


def sgd():
    torch = pytest.importorskip("torch")
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)


@pytest.mark.parametrize("row", rows("PyTorch"), ids=lambda r: r[0].split("(")[0])
def test_pytorch_rows(row):
    pytest.importorskip("torch")
    from torch.optim import lr_scheduler

    from lrkit.torch import from_torch

    call, spec = row
    sched = eval(call, {**vars(lr_scheduler), "opt": sgd()})
    got = from_torch(sched)
    if isinstance(got, dict):  # a momentum cycle comes back too; the table shows the lr
        got = got["lr"]
    assert repr(got) == spec
    assert lrkit.parse(spec) == got


def steps_of(s, cap=1500):
    return int(min(s.length or cap, cap)) + 1


@pytest.mark.parametrize("row", rows("Hugging Face"), ids=lambda r: r[1].split(",")[0])
def test_hugging_face_rows(row):
    hf = pytest.importorskip("transformers.optimization")
    theirs_call, ours_call, spec = row
    s = eval(ours_call, {"transformers": lrkit.peers.transformers})
    assert repr(s) == spec and lrkit.parse(spec) == s
    if "plateau" in spec:  # metric-driven: tests/test_peers_transformers.py feeds it metrics
        return
    opt = sgd()
    sched = eval(theirs_call, {**vars(hf), "opt": opt})
    n = steps_of(s)
    theirs = []
    for _ in range(n):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    scale = 1.0 if re.search(r"\blr=", ours_call) else LR  # the multiplier, times the rate
    float64_close(scale * s.values(n), np.array(theirs))


@pytest.mark.parametrize("row", rows("timm"), ids=lambda r: r[1].split(",")[0])
def test_timm_rows(row):
    from test_peers_timm import load_timm, run

    factory = load_timm()
    theirs_call, ours_call, spec = row
    s = eval(ours_call, {"timm": lrkit.peers.timm})
    assert repr(s) == spec and lrkit.parse(spec) == s
    if "plateau" in spec:  # metric-driven: tests/test_peers_timm.py feeds it metrics
        return
    names = {k: getattr(factory, k) for k in dir(factory)
             if k.endswith("Scheduler") or k.startswith("create")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = eval(theirs_call, {**names, "opt": sgd()})
    built = built[0] if isinstance(built, tuple) else built
    n = steps_of(s, cap=12_000)
    float64_close(s.values(n), run(built, n, per_update=not built.t_in_epochs))


@pytest.mark.parametrize("row", rows("Keras"), ids=lambda r: r[0].split("(")[0])
def test_keras_rows(row):
    keras = pytest.importorskip("keras")
    from test_peers_keras import keras_values

    call, spec = row
    ks = eval(call, vars(keras.optimizers.schedules))
    s = lrkit.peers.keras(ks)
    assert repr(s) == spec and lrkit.parse(spec) == s
    vectorised = "Piecewise" not in call and "warmup_target" not in call
    n = 2500 if vectorised else 1200
    float32_close(s.values(n), keras_values(ks, n, vectorised))


@pytest.mark.parametrize("row", rows("optax"), ids=lambda r: r[0].split("(")[0])
def test_optax_rows(row):
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp

    call, spec = row
    f = eval(call, {"optax": optax})
    n = 2500
    theirs = np.asarray(jax.vmap(f)(jnp.arange(n)), dtype=np.float64)
    float32_close(lrkit.parse(spec).values(n), theirs)


def test_the_catalogue_recipes_of_the_peers_are_what_lrkit_peers_writes():
    import importlib.util

    path = PAGE.parent / "make_catalogue.py"
    spec = importlib.util.spec_from_file_location("make_catalogue", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    recipes = {title: lrkit.parse(text) for title, text, _, _ in mod.RECIPES}
    assert recipes["Hugging Face warmup-stable-decay"] == lrkit.peers.transformers(
        "warmup_stable_decay", 100, 1000, lr=0.1, num_decay_steps=200)
    assert recipes["timm cosine with a warm-up prefix"] == lrkit.peers.timm(
        "CosineLRScheduler", lr=0.1, t_initial=1000, warmup_t=100, warmup_lr_init=1e-5,
        warmup_prefix=True)
    keras = lrkit.peers.keras({"initial_learning_rate": 0.1, "first_decay_steps": 100,
                               "t_mul": 1.0, "m_mul": 0.9, "alpha": 0.1})
    # the recipe writes alpha * lr = 0.01 and (1 - alpha) * lr = 0.09 rounded
    np.testing.assert_allclose(recipes["Keras CosineDecayRestarts"].values(1000),
                               keras.values(1000), rtol=1e-15)
