"""``lrkit.peers.transformers`` against Hugging Face's own schedulers, computed in the test.

Every peer value comes from ``transformers.get_scheduler(name, optimizer, ...)`` on a real
``torch.optim.SGD`` (one parameter, ``lr=LR``), stepped once per update; the learning rate
is read from ``optimizer.param_groups[0]["lr"]`` before each update (so ``t`` = updates
done, the first update uses ``s(0)``). Both forms are compared: ``lr=LR`` (the learning
rates) and the multiplier (peak 1) times ``LR``.

Tolerance: 1e-12 relative (float64, as Hugging Face computes). Where Hugging Face's formula
reaches a floor by cancellation (``0.5 * (1 + cos(pi p))`` near ``p = 1``) it carries an
absolute error of a few ``eps * LR``, so the cosine family adds ``atol = 64 * eps * LR``
(1.4e-15); lrkit's own cosine is exact there (tests/test_conformance_torch.py settles which
side is right against mpmath). Every other schedule is compared with ``atol = 0``.
"""

import math
import warnings

import numpy as np
import pytest

import lrkit
from lrkit.peers import transformers as peer
from test_peers_common import ours

torch = pytest.importorskip("torch")
hf = pytest.importorskip("transformers.optimization")
trainer_utils = pytest.importorskip("transformers.trainer_utils")

LR = 0.1
EPS = np.finfo(float).eps
COS_ATOL = 64 * EPS * LR


def hf_lrs(name, w, n, steps, lr=LR, **kw):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = hf.get_scheduler(name, opt, num_warmup_steps=w, num_training_steps=n,
                             scheduler_specific_kwargs=kw)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def conforms(name, w, n, steps=None, *, cancels=False, multiplier=True, **kw):
    """lrkit (lr=LR, and the multiplier times LR) equals Hugging Face over ``steps``."""
    steps = steps or (n + 1 if n else 5000)
    theirs = hf_lrs(name, w, n, steps, **kw)
    atol = COS_ATOL if cancels else 0.0
    mine = ours(peer(name, w, n, lr=LR, **kw), steps)
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=atol)
    if multiplier:
        rel = peer(name, w, n, **kw)
        assert max(rel.values(steps)) == 1.0
        np.testing.assert_allclose(LR * ours(rel, steps), theirs, rtol=1e-12, atol=atol)
    return mine, theirs


def test_every_scheduler_type_is_covered():
    from lrkit.peers._hf import KWARGS, NAMES, REFUSED

    assert set(NAMES) == {t.value for t in trainer_utils.SchedulerType}
    assert set(REFUSED) == {"greedy"}  # the one without a closed form
    assert peer(trainer_utils.SchedulerType.COSINE, 10, 100) == peer("cosine", 10, 100)
    assert len(KWARGS) == 11


@pytest.mark.parametrize(("w", "n"), [(300, 4000), (0, 3000), (1, 2000)])
def test_linear(w, n):
    conforms("linear", w, n)


@pytest.mark.parametrize(("w", "n", "kw"), [
    (400, 5000, {}), (0, 3000, {}), (250, 3000, {"num_cycles": 1.5}),
    (100, 3100, {"num_cycles": 2.0}), (300, 3000, {"num_cycles": 0.3})])
def test_cosine_up_to_the_end(w, n, kw):
    conforms("cosine", w, n, cancels=True, **kw)


def test_cosine_holds_where_hugging_face_climbs_back():
    """The documented defect: 0.0115 at step 599 of 500 (W = 50, lr 0.1); lrkit holds 0."""
    theirs = hf_lrs("cosine", 50, 500, 1000)
    s = peer("cosine", 50, 500, lr=LR)
    mine = s.values(1000)
    np.testing.assert_allclose(mine[:501], theirs[:501], rtol=1e-12, atol=COS_ATOL)
    assert round(theirs[599], 4) == 0.0115 and theirs[599] > theirs[501] > 0
    assert theirs[950] > 0.09  # back near the top at p = 2
    assert mine[500:].max() == 0.0 and s(10**9) == 0.0 and s.length == 500
    # num_cycles other than 0.5: agree up to N, then hold the value at N
    theirs = hf_lrs("cosine", 250, 3000, 4000, num_cycles=1.5)
    s = peer("cosine", 250, 3000, lr=LR, num_cycles=1.5)
    np.testing.assert_allclose(s.values(3001), theirs[:3001], rtol=1e-12, atol=COS_ATOL)
    assert s(3000) == s(3999) == s(10**8) == 0.0 and theirs[3999] > 0.01


@pytest.mark.parametrize(("w", "n", "kw"), [
    (300, 4800, {}), (300, 4800, {"num_cycles": 3}), (0, 4000, {"num_cycles": 4}),
    (200, 3200, {"num_cycles": 2.5}), (100, 2977, {"num_cycles": 7})])
def test_cosine_with_restarts(w, n, kw):
    mine, theirs = conforms("cosine_with_restarts", w, n, n + 500, cancels=True, **kw)
    assert mine[n:].max() == theirs[n:].max() == 0.0  # both hold 0 from N on


@pytest.mark.parametrize(("w", "n", "kw"), [
    (300, 4000, {}), (300, 4000, {"lr_end": 1e-4, "power": 2.0}),
    (0, 3000, {"lr_end": 0.0, "power": 0.5}), (500, 3000, {"lr_end": 0.02, "power": 3.0})])
def test_polynomial_needs_the_rate(w, n, kw):
    conforms("polynomial", w, n, n + 500, multiplier=False, **kw)
    s = peer("polynomial", w, n, lr=LR, **kw)
    assert s(10**9) == kw.get("lr_end", 1e-7)
    # the multiplier is s / lr: what Hugging Face's LambdaLR multiplies the rate by
    np.testing.assert_allclose(LR * (s / LR).values(n), hf_lrs("polynomial", w, n, n, **kw),
                               rtol=1e-12)


def test_constant_and_constant_with_warmup():
    conforms("constant", 100, 2000, 3000)  # Hugging Face ignores W and N here
    assert peer("constant", 100, 2000) == lrkit.constant(1.0)
    conforms("constant_with_warmup", 250, None, 3000)
    conforms("constant_with_warmup", 0, None, 100)


@pytest.mark.parametrize(("w", "kw"), [(500, {}), (500, {"timescale": 1000}), (0, {}),
                                       (0, {"timescale": 77})])
def test_inverse_sqrt(w, kw):
    conforms("inverse_sqrt", w, None, 5000, **kw)


@pytest.mark.parametrize(("w", "n", "kw"), [
    (300, 4000, {"min_lr_rate": 0.1}), (0, 3000, {"min_lr_rate": 0.05}),
    (200, 3000, {"min_lr_rate": 0.1, "num_cycles": 1.0})])
def test_cosine_with_min_lr(w, n, kw):
    mine, theirs = conforms("cosine_with_min_lr", w, n, cancels=True, **kw)


def test_cosine_with_min_lr_absolute_and_its_hold():
    theirs = hf_lrs("cosine_with_min_lr", 300, 4000, 5000, min_lr=1e-3)
    s = peer("cosine_with_min_lr", 300, 4000, lr=LR, min_lr=1e-3)
    np.testing.assert_allclose(s.values(4001), theirs[:4001], rtol=1e-12, atol=COS_ATOL)
    assert s(4000) == s(4999) == 1e-3 < theirs[4999]  # Hugging Face rises again past N


@pytest.mark.parametrize(("w", "kw"), [
    (300, {"min_lr_rate": 0.05}), (300, {"min_lr_rate": 0.05, "warmup_lr_rate": 0.1}),
    (1, {"min_lr_rate": 0.1}), (1, {"min_lr_rate": 0.1, "warmup_lr_rate": 0.2}),
    (0, {"min_lr_rate": 0.1}), (2, {"min_lr_rate": 0.0, "warmup_lr_rate": 0.5}),
    (300, {"min_lr_rate": 0.1, "num_cycles": 1.0})])
def test_cosine_warmup_with_min_lr(w, kw):
    n = 3000
    # its cosine starts one step early, so it reaches the floor at N - 1
    theirs = hf_lrs("cosine_warmup_with_min_lr", w, n, n, **kw)
    s = peer("cosine_warmup_with_min_lr", w, n, lr=LR, **kw)
    np.testing.assert_allclose(ours(s, n), theirs, rtol=1e-12, atol=COS_ATOL)
    rel = peer("cosine_warmup_with_min_lr", w, n, **kw)
    np.testing.assert_allclose(LR * rel.values(n), theirs, rtol=1e-12, atol=COS_ATOL)
    assert s(n + 1000) == s(n - 1)


@pytest.mark.parametrize("kw", [
    {"num_decay_steps": 1000},
    {"num_decay_steps": 1000, "decay_type": "1-sqrt", "min_lr_ratio": 0.1},
    {"num_decay_steps": 800, "warmup_type": "cosine", "decay_type": "linear"},
    {"num_decay_steps": 800, "warmup_type": "1-sqrt", "decay_type": "cosine",
     "min_lr_ratio": 0.05},
    {"num_decay_steps": 600, "num_cycles": 1.0, "min_lr_ratio": 0.1},
    {"num_decay_steps": 600, "num_stable_steps": 0, "warmup_type": "1-sqrt"},
])
@pytest.mark.parametrize("w", [300, 0])
def test_warmup_stable_decay(kw, w):
    n = 4000
    stable = kw.get("num_stable_steps")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both N and S given: Hugging Face warns, uses S
        theirs = hf_lrs("warmup_stable_decay", w, n, n + 500, **kw)
        mine = ours(peer("warmup_stable_decay", w, n, lr=LR, **kw), n + 500)
        rel = peer("warmup_stable_decay", w, n, **kw)
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=COS_ATOL)
    np.testing.assert_allclose(LR * rel.values(n + 500), theirs, rtol=1e-12, atol=COS_ATOL)
    # the implied stable length: N - W - D
    s = n - w - kw["num_decay_steps"] if stable is None else stable
    assert rel(w + s) == 1.0 and rel(w + s + kw["num_decay_steps"]) == kw.get(
        "min_lr_ratio", 0.0)


def test_warmup_stable_decay_stable_length_spelt_out():
    """num_stable_steps without num_training_steps: the same schedule as the implied one."""
    a = peer("warmup_stable_decay", 100, 1000, num_decay_steps=200)
    b = peer("warmup_stable_decay", 100, num_decay_steps=200, num_stable_steps=700)
    assert a == b
    assert repr(a) == ("warmup(wsd(init=1.0, steps=900, decay_steps=200, shape='cosine'), "
                       "warmup_steps=100, fit=False)")
    with pytest.warns(UserWarning, match="num_stable_steps is used"):
        c = peer("warmup_stable_decay", 100, 999, num_decay_steps=200, num_stable_steps=700)
    assert c == a


def test_reduce_lr_on_plateau_follows_the_metric():
    """HF's reduce_lr_on_plateau is torch's ReduceLROnPlateau; lrkit's is constant * plateau,
    fed the same metrics through a real lrkit Scheduler."""
    from lrkit.torch import Scheduler

    kw = {"mode": "min", "factor": 0.5, "patience": 2, "threshold": 0.01, "cooldown": 1,
          "min_lr": 0.004}
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 20), 0.5 + 0.01 * rng.random(60)])
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR)
    theirs_sched = hf.get_scheduler("reduce_lr_on_plateau", opt, scheduler_specific_kwargs=kw)
    p2 = torch.nn.Parameter(torch.zeros(1))
    opt2 = torch.optim.SGD([p2], lr=LR)
    s = peer("reduce_lr_on_plateau", lr=LR, **kw)
    assert s == lrkit.constant(LR) * lrkit.plateau(factor=0.5, patience=2, threshold=0.01,
                                                   cooldown=1, floor=0.004)
    mine_sched = Scheduler(opt2, s, interval="epoch")
    theirs, mine = [], []
    for m in metrics:
        theirs.append(opt.param_groups[0]["lr"])
        mine.append(opt2.param_groups[0]["lr"])
        theirs_sched.step(float(m))
        mine_sched.step(float(m))
    assert mine == theirs and min(theirs) == 0.004 and len(set(theirs)) >= 4
    # the multiplier form, without a floor
    assert peer("reduce_lr_on_plateau", factor=0.5) == lrkit.constant(1.0) * lrkit.plateau(
        factor=0.5)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: peer("cosin", 10, 100), "unknown scheduler 'cosin'; did you mean 'cosine'?"),
    (lambda: peer(3, 10, 100), "unknown scheduler 3 (valid: linear, cosine,"),
    (lambda: peer("greedy"), "'greedy' (GreedyLR) raises and lowers the rate"),
    (lambda: peer("cosine", 10, 100, num_cycle=1), "unknown argument 'num_cycle'; did you "
                                                   "mean 'num_cycles'? (valid: num_cycles)"),
    (lambda: peer("linear", 10, 100, power=2), "unknown argument 'power' (valid: none)"),
    (lambda: peer("cosine", 10, 100, last_epoch=5), "'last_epoch' is not an argument here; "
                                                    "lrkit computes every value"),
    (lambda: peer("cosine", None, 100), "needs num_warmup_steps (an integer >= 0), got None"),
    (lambda: peer("cosine", 10), "needs num_training_steps (an integer >= 1), got None"),
    (lambda: peer("cosine", 100, 100), "num_warmup_steps must be < num_training_steps=100, "
                                       "got 100"),
    (lambda: peer("cosine", -1, 100), "num_warmup_steps must be an integer >= 0, got -1"),
    (lambda: peer("cosine", 10, 10.5), "num_training_steps must be an integer >= 1, got 10.5"),
    (lambda: peer("cosine", 10, 100, lr=-0.1), "lr must be > 0, got -0.1"),
    (lambda: peer("cosine", 10, 100, lr="0.1"), "lr must be a number, got '0.1'"),
    (lambda: peer("cosine", 10, 100, num_cycles=0), "num_cycles must be > 0, got 0"),
    (lambda: peer("polynomial", 10, 100), "lr_end is an absolute rate"),
    (lambda: peer("polynomial", 10, 100, lr=1e-7), "lr_end (1e-07) must be smaller than lr"),
    (lambda: peer("polynomial", 10, 100, lr=0.1, power=0), "power must be > 0, got 0"),
    (lambda: peer("cosine_with_min_lr", 10, 100, min_lr=1e-3), "give that rate as lr=, or "
                                                               "give min_lr_rate= instead"),
    (lambda: peer("cosine_with_min_lr", 10, 100), "needs one of min_lr (with lr=) or "
                                                  "min_lr_rate"),
    (lambda: peer("cosine_with_min_lr", 10, 100, lr=1, min_lr=0.1, min_lr_rate=0.1),
     "give one of min_lr or min_lr_rate"),
    (lambda: peer("cosine_with_min_lr", 10, 100, min_lr_rate=-0.1),
     "min_lr_rate must be >= 0, got -0.1"),
    (lambda: peer("cosine_warmup_with_min_lr", 10, 100, min_lr_rate=0.1, warmup_lr_rate=-1),
     "warmup_lr_rate must be >= 0, got -1"),
    (lambda: peer("warmup_stable_decay", 10, 100), "needs num_decay_steps (an integer >= 1)"),
    (lambda: peer("warmup_stable_decay", 10, num_decay_steps=5),
     "needs num_training_steps or num_stable_steps"),
    (lambda: peer("warmup_stable_decay", 10, 100, num_decay_steps=95),
     "num_training_steps=100 must be >= num_warmup_steps + num_decay_steps = 105"),
    (lambda: peer("warmup_stable_decay", 10, 100, num_decay_steps=5, warmup_type="exp"),
     "warmup_type must be one of 'linear', 'cosine', '1-sqrt', got 'exp'"),
    (lambda: peer("warmup_stable_decay", 10, 100, num_decay_steps=5, decay_type="cos"),
     "decay_type must be one of 'linear', 'cosine', '1-sqrt', got 'cos'"),
    (lambda: peer("warmup_stable_decay", 10, 100, num_decay_steps=5, min_lr_ratio=2),
     "min_lr_ratio must be in [0, 1], got 2"),
    (lambda: peer("cosine", 10, 100, {"num_cycles": 1}), "takes from 1 to 3 positional"),
    (lambda: peer("cosine", 10, 100, scheduler_specific_kwargs=[1]),
     "scheduler_specific_kwargs must be a dict, got [1]"),
    (lambda: peer("cosine", 10, 100, scheduler_specific_kwargs={"num_cycles": 1},
                  num_cycles=2), "'num_cycles' is given both as a keyword and in"),
    (lambda: peer("reduce_lr_on_plateau", min_lr=0.01), "min_lr=0.01 is an absolute rate"),
    (lambda: peer("reduce_lr_on_plateau", lr=0.1, min_lr=[0.01]),
     "min_lr=[0.01]: one value for every group here"),
    (lambda: peer("reduce_lr_on_plateau", patience=-1),
     "plateau: patience must be an integer >= 0, got -1"),
    (lambda: peer("reduce_lr_on_plateau", mode="low"), "mode must be one of 'min', 'max'"),
])
def test_bad_input_names_the_argument(call, message):
    with pytest.raises((ValueError, TypeError)) as e:
        call()
    assert message in str(e.value)


def test_scheduler_specific_kwargs_as_a_dict():
    """The ``lr_scheduler_kwargs`` of TrainingArguments, as Hugging Face takes them."""
    kw = {"num_decay_steps": 200, "min_lr_ratio": 0.1}
    assert (peer("warmup_stable_decay", 100, 1000, scheduler_specific_kwargs=kw)
            == peer("warmup_stable_decay", 100, 1000, **kw))
    assert math.isclose(peer("cosine", 100, 1000, lr=0.1)(550), 0.05)
