"""``lrkit.peers.timm`` against timm's own schedulers, computed in the test.

timm's package import needs torchvision, which breaks next to the CPU torch wheel (the CI
installs timm with ``--no-deps``), so its ``timm.scheduler`` modules are loaded under a bare
``timm`` package for the duration of the import; everything else is timm's own code, called
on a real ``torch.optim.SGD``: ``create_scheduler_v2(...)`` and the scheduler classes, stepped
per epoch (``step(t)``) or per update (``step_update(t)``, ``t_in_epochs=False``). The value
for ``t`` is read from the optimizer right after timm sets it.

Tolerance: 1e-12 relative (timm computes in float64), plus ``64 * eps * lr`` absolute
(1.4e-15) where timm's formula cancels near its floor (``1 + cos``, ``1 - tanh``,
``1 - z ** k``, ``1 - sqrt``; see tests/test_conformance_torch.py); step and multistep are
compared with ``atol = 0``.
"""

import functools
import importlib
import importlib.util
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import lrkit
from lrkit.peers import timm as peer
from test_peers_common import ours

torch = pytest.importorskip("torch")

LR = 0.1
EPS = np.finfo(float).eps
ATOL = 64 * EPS * LR


@functools.cache
def load_timm():
    """timm's ``timm.scheduler.scheduler_factory`` (its classes are its attributes), or a
    skip when timm is not installed."""
    spec = importlib.util.find_spec("timm")
    if spec is None or spec.origin is None:
        pytest.skip("timm is not installed")
    root = Path(spec.origin).parent

    def ours_only():
        return [k for k in sys.modules if k == "timm" or k.startswith("timm.")]

    saved = {k: sys.modules[k] for k in ours_only()}
    for path, name in ((root, "timm"), (root / "scheduler", "timm.scheduler")):
        pkg = types.ModuleType(name)
        pkg.__path__ = [str(path)]
        sys.modules[name] = pkg
    try:
        return importlib.import_module("timm.scheduler.scheduler_factory")
    finally:
        for k in ours_only():
            del sys.modules[k]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def T():
    return load_timm()


def opt(lrs=(LR,)):
    groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def run(sched, n, per_update, group=0):
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(n):
            (sched.step_update if per_update else sched.step)(t)
            out.append(sched.optimizer.param_groups[group]["lr"])
    return np.array(out)


FACTORY_CASES = [
    ("cosine", {"num_epochs": 100, "warmup_epochs": 5, "min_lr": 1e-5}),
    ("cosine", {"num_epochs": 100, "warmup_epochs": 5, "warmup_prefix": True, "min_lr": 1e-5}),
    ("cosine", {"num_epochs": 40, "cycle_limit": 3, "cycle_decay": 0.5, "cycle_mul": 2,
                "warmup_epochs": 3, "warmup_prefix": True}),
    ("cosine", {"num_epochs": 60, "cycle_limit": 3, "k_decay": 2.0, "min_lr": 1e-4}),
    ("cosine", {"num_epochs": 30, "cycle_limit": 3, "cycle_mul": 2, "k_decay": 1.5,
                "warmup_epochs": 2}),
    ("tanh", {"num_epochs": 100, "warmup_epochs": 5, "min_lr": 1e-5}),
    ("tanh", {"num_epochs": 50, "warmup_epochs": 5, "warmup_prefix": True, "cycle_limit": 2,
              "cycle_decay": 0.5}),
    ("poly", {"num_epochs": 100, "decay_rate": 2.0, "warmup_epochs": 5, "min_lr": 1e-5}),
    ("poly", {"num_epochs": 50, "decay_rate": 0.5, "k_decay": 2.0, "cycle_limit": 2}),
    ("step", {"decay_epochs": 30, "decay_rate": 0.5, "warmup_epochs": 3}),
    ("step", {"decay_epochs": 30, "decay_rate": 0.5, "warmup_epochs": 3,
              "warmup_prefix": True}),
    ("constant", {"warmup_epochs": 5}),
    ("multistep", {"decay_milestones": (30, 60, 90), "warmup_epochs": 5}),
    ("multistep", {"decay_milestones": (30, 60, 90), "decay_rate": 0.5, "warmup_epochs": 5,
                   "warmup_prefix": True}),
    ("wsd", {"num_epochs": 100, "warmup_epochs": 5}),
    ("wsd", {"num_epochs": 100, "warmup_epochs": 5, "warmup_prefix": True,
             "decay_epochs": 30, "decay_fn": "cosine", "min_lr": 1e-4}),
    ("wsd", {"num_epochs": 100, "warmup_epochs": 5, "decay_fn": "linear", "min_lr": 1e-4}),
    ("wsd", {"num_epochs": 100, "decay_fn": "power", "decay_epochs": 0.3}),
    ("rsqrt", {"num_epochs": 100, "warmup_epochs": 10}),
    ("rsqrt", {"num_epochs": 100, "warmup_epochs": 10, "min_lr": 0.02, "stable_timescale": 4}),
    ("none", {"num_epochs": 100}),
]


@pytest.mark.parametrize("per_update", [False, True], ids=["per_epoch", "per_update"])
@pytest.mark.parametrize(("sched", "kw"), FACTORY_CASES,
                         ids=[f"{s}{i}" for i, (s, _) in enumerate(FACTORY_CASES)])
def test_create_scheduler_v2(T, sched, kw, per_update):
    kw = dict(kw, step_on_epochs=not per_update)
    u = 37 if per_update else 1
    if per_update:
        kw["updates_per_epoch"] = u
    o = opt()
    theirs_sched, epochs = T.create_scheduler_v2(o, sched=sched, **kw)
    n = (epochs + 20) * u
    mine = ours(peer(sched, lr=LR, **kw), n)
    if theirs_sched is None:  # 'none': timm leaves the rate alone
        assert (mine == LR).all()
        return
    theirs = run(theirs_sched, n, per_update)
    atol = 0.0 if sched in ("step", "multistep", "constant") else ATOL
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=atol)
    assert n >= 100 * u


def test_cycles_with_k_decay_are_spelt_out_with_join():
    s = peer("CosineLRScheduler", lr=LR, t_initial=100, cycle_limit=3, cycle_decay=0.5,
             k_decay=2.0)
    assert repr(s) == ("join(cosine(init=0.1, steps=100, progress_power=2.0), "
                       "cosine(init=0.05, steps=100, progress_power=2.0), "
                       "cosine(init=0.025, steps=100, progress_power=2.0))")
    # without k_decay the cycles are one cosine_restarts
    assert isinstance(peer("CosineLRScheduler", lr=LR, t_initial=100, cycle_limit=3),
                      lrkit.cosine_restarts)


CLASS_CASES = [
    ("CosineLRScheduler", {"t_initial": 3000, "lr_min": 1e-5, "warmup_t": 200,
                           "warmup_lr_init": 1e-4}),
    ("CosineLRScheduler", {"t_initial": 1000, "cycle_mul": 1.5, "cycle_decay": 0.7,
                           "cycle_limit": 3, "warmup_t": 100, "warmup_prefix": True}),
    ("CosineLRScheduler", {"t_initial": 1000, "cycle_mul": 0.5, "cycle_limit": 3}),
    ("CosineLRScheduler", {"t_initial": 800, "cycle_decay": 1.2, "cycle_limit": 3}),
    ("CosineLRScheduler", {"t_initial": 1000, "cycle_limit": 0, "lr_min": 0.01}),
    ("TanhLRScheduler", {"t_initial": 1000, "lb": -6.0, "ub": 4.0, "cycle_limit": 3,
                         "cycle_mul": 2, "lr_min": 1e-3}),
    ("TanhLRScheduler", {"t_initial": 2000, "warmup_t": 300, "warmup_lr_init": 1e-3}),
    ("PolyLRScheduler", {"t_initial": 3000, "power": 0.5, "k_decay": 0.5, "lr_min": 1e-4,
                         "warmup_t": 100}),
    ("PolyLRScheduler", {"t_initial": 1000, "power": 1.5, "cycle_limit": 3}),
    ("StepLRScheduler", {"decay_t": 700, "decay_rate": 0.8, "warmup_t": 100,
                         "warmup_lr_init": 1e-3}),
    ("MultiStepLRScheduler", {"decay_t": [1, 800, 800, 2000], "decay_rate": 0.5,
                              "warmup_t": 100}),
    ("MultiStepLRScheduler", {"decay_t": [0, 1500], "decay_rate": 0.5}),
    ("WSDLRScheduler", {"t_initial": 3000, "decay_t": 800, "warmup_t": 200}),
    ("WSDLRScheduler", {"t_initial": 3000, "decay_t": 3000, "decay_fn": "power",
                        "decay_power": 2.0, "lr_min": 1e-3}),
    ("WSDLRScheduler", {"t_initial": 3000, "decay_t": 600, "stable_fn": "power",
                        "stable_power": 1.0, "stable_timescale": 250, "decay_fn": "cosine",
                        "lr_min": 0.01, "warmup_t": 100}),
    ("WSDLRScheduler", {"t_initial": 3000, "decay_t": 600, "stable_fn": "rsqrt",
                        "decay_fn": "1-sqrt", "warmup_t": 100, "lr_min": 1e-3}),
]


@pytest.mark.parametrize("per_update", [False, True], ids=["t_in_epochs", "per_update"])
@pytest.mark.parametrize(("cls", "kw"), CLASS_CASES,
                         ids=[f"{c}{i}" for i, (c, _) in enumerate(CLASS_CASES)])
def test_scheduler_classes(T, cls, kw, per_update):
    """The classes' own arguments; ``t_in_epochs`` only says which ``step`` acts."""
    kw = dict(kw, t_in_epochs=not per_update)
    theirs_sched = getattr(T, cls)(opt(), **kw)
    n = 1990 if kw.get("cycle_mul") == 0.5 else 4000  # past 2 T, timm's log fails
    theirs = run(theirs_sched, n, per_update)
    s = peer(cls, lr=LR, **kw)
    atol = 0.0 if "Step" in cls else ATOL
    np.testing.assert_allclose(ours(s, n), theirs, rtol=1e-12, atol=atol)
    # the object form reads the same arguments from the built scheduler
    assert peer(theirs_sched) == s


def test_built_schedulers_per_group(T):
    """Groups with their own rates and timm's layer-wise lr_scale: one schedule per group."""
    o = opt((0.1, 0.01))
    o.param_groups[1]["lr_scale"] = 0.5
    built = T.CosineLRScheduler(o, t_initial=1000, lr_min=1e-4, warmup_t=50,
                                warmup_lr_init=1e-5, t_in_epochs=False)
    ss = peer(built)
    assert isinstance(ss, list) and len(ss) == 2
    for g, s in enumerate(ss):
        np.testing.assert_allclose(s.values(1500), run(built, 1500, True, group=g),
                                   rtol=1e-12, atol=ATOL)
    same = T.StepLRScheduler(opt((0.1, 0.1)), decay_t=10)
    assert peer(same) == lrkit.constant(0.1)


def test_plateau_follows_the_metric(T):
    """timm's plateau (deprecated there) is torch's ReduceLROnPlateau behind a warm-up that
    ignores the metric; lrkit's is warmup(constant) * plateau, fed through a real Scheduler
    after the warm-up, as timm's train loop feeds it (``step(epoch + 1, metric)``)."""
    from lrkit.torch import Scheduler

    kw = {"warmup_epochs": 3, "warmup_lr": 1e-3, "patience_epochs": 2, "decay_rate": 0.5,
          "min_lr": 0.01, "plateau_mode": "min"}
    o = opt()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs_sched, _ = T.create_scheduler_v2(o, sched="plateau", **kw)
    s = peer("plateau", lr=LR, **kw)
    assert s == lrkit.warmup(lrkit.constant(LR), warmup_steps=3, init=1e-3, fit=False) * \
        lrkit.plateau(mode="min", factor=0.5, patience=2, floor=0.01)
    o2 = opt()
    mine_sched = Scheduler(o2, s, interval="epoch")
    rng = np.random.default_rng(1)
    metrics = np.concatenate([np.linspace(2, 1, 10), 1 + 0.01 * rng.random(40)])
    theirs, mine = [], []
    for epoch, m in enumerate(metrics):
        theirs.append(o.param_groups[0]["lr"])
        mine.append(o2.param_groups[0]["lr"])
        theirs_sched.step(epoch + 1, float(m))
        if epoch + 1 > 3:  # timm hands the metric to torch only after the warm-up
            mine_sched.observe(float(m))
        mine_sched.step()
    np.testing.assert_allclose(mine, theirs, rtol=1e-15)
    assert min(theirs[3:]) == 0.01 and theirs[0] == 1e-3


def test_per_update_lengths_are_in_updates():
    s = peer("cosine", lr=LR, num_epochs=100, warmup_epochs=5, step_on_epochs=False,
             updates_per_epoch=50)
    assert s.length == 5000
    assert peer("cosine", lr=LR, num_epochs=100, warmup_epochs=5).length == 100


@pytest.mark.parametrize(("call", "message"), [
    (lambda: peer("cosin", lr=LR), "unknown scheduler 'cosin'; did you mean 'cosine'?"),
    (lambda: peer("CosineScheduler", lr=LR), "did you mean 'CosineLRScheduler'?"),
    (lambda: peer("cosine"), "give lr= (the optimizer's base learning rate"),
    (lambda: peer("cosine", lr=0), "lr must be > 0, got 0"),
    (lambda: peer("cosine", lr=LR, t_initial=100), "'t_initial' is not an argument here; "
     "create_scheduler_v2 calls it num_epochs (or call lrkit.peers.timm('CosineLRScheduler', "
     "t_initial=...))"),
    (lambda: peer("cosine", lr=LR, lb=-5), "'lb' is not an argument here; it is an argument "
     "of timm's scheduler classes only (or call lrkit.peers.timm('TanhLRScheduler', lb=...))"),
    (lambda: peer("cosine", lr=LR, num_epoch=100), "unknown argument 'num_epoch'; did you "
                                                   "mean 'num_epochs'?"),
    (lambda: peer("CosineLRScheduler", lr=LR, t_initial=10, num_epochs=100),
     "'num_epochs' is not an argument here; it is create_scheduler_v2's name; "
     "CosineLRScheduler calls it 't_initial'"),
    (lambda: peer("CosineLRScheduler", lr=LR, t_initial=10, updates_per_epoch=5),
     "takes its lengths in the unit of t already"),
    (lambda: peer("CosineLRScheduler", lr=LR), "CosineLRScheduler needs t_initial"),
    (lambda: peer("CosineLRScheduler", lr=LR, t_initial=0), "t_initial must be > 0, got 0"),
    (lambda: peer("cosine", lr=LR, noise=0.5), "noise=0.5: timm's noise multiplies the rate "
                                               "by a random draw"),
    (lambda: peer("CosineLRScheduler", lr=LR, t_initial=10, noise_range_t=5),
     "noise_range_t=5: timm's noise"),
    (lambda: peer("cosine", lr=LR, step_on_epochs=False),
     "step_on_epochs=False needs updates_per_epoch (the number of optimizer updates per "
     "epoch, > 0), got 0"),
    (lambda: peer("cosine", lr=LR, step_on_epochs=0), "step_on_epochs must be True or False"),
    (lambda: peer("step", lr=LR, decay_rate=2), "decay_rate must be in [0, 1]"),
    (lambda: peer("multistep", lr=LR, decay_milestones=(60, 30)),
     "decay_milestones must be non-decreasing, got [60, 30]"),
    (lambda: peer("plateau", lr=LR, step_on_epochs=False, updates_per_epoch=10),
     "timm's plateau steps once per epoch only"),
    (lambda: peer("plateau", lr=LR, decay_rate=1.5), "decay_rate must be in (0, 1)"),
    (lambda: peer("plateau", lr=LR, plateau_mode="up"), "mode must be one of 'min', 'max'"),
    (lambda: peer("wsd", lr=LR, decay_fn="exp"), "decay_fn='exp' ((r**frac - r) / (1 - r)) "
                                                 "has no exact lrkit form"),
    (lambda: peer("wsd", lr=LR, decay_fn=lambda f: 1 - f), "is a Python function"),
    (lambda: peer("wsd", lr=LR, decay_fn="square"), "decay_fn must be one of 'linear', "
                                                    "'1-sqrt', 'cosine', 'power', 'exp'"),
    (lambda: peer("wsd", lr=LR, num_epochs=100, decay_epochs=200),
     "needs 0 < decay_epochs <= num_epochs - warmup_epochs, got decay 200"),
    (lambda: peer("rsqrt", lr=LR), "stable_fn='rsqrt' needs a stable_timescale > 0 (it "
                                   "defaults to warmup_t), got 0"),
    (lambda: peer("WSDLRScheduler", lr=LR, t_initial=100, decay_t=10, stable_fn="power",
                  stable_power=0.7, stable_timescale=5), "stable_power=0.7: lrkit has"),
    (lambda: peer("WSDLRScheduler", lr=LR, t_initial=100, decay_t=200),
     "decay_t must be in (0, t_initial=100], got 200"),
    (lambda: peer("TanhLRScheduler", lr=LR, t_initial=100, lb=3, ub=3),
     "lb must be < ub=3, got 3"),
    (lambda: peer("CosineLRScheduler", lr=LR, t_initial=10, cycle_limit=-1),
     "cycle_limit must be an integer >= 0, got -1"),
    (lambda: peer("CosineLRScheduler", lr=LR, t_initial=10, cycle_limit=5000, k_decay=2,
                  cycle_decay=0.9),
     "cycle_limit=5000 cycles that differ from each other are spelt out one join piece "
     "each; at most 1000"),
    (lambda: peer("CosineLRScheduler", lr=LR, t_initial=10, warmup_prefix="yes"),
     "warmup_prefix must be True or False"),
    (lambda: peer(object()), "cannot convert object"),
])
def test_bad_input_names_the_argument(call, message):
    with pytest.raises((ValueError, TypeError)) as e:
        call()
    assert message in str(e.value)


def test_a_built_scheduler_is_given_alone(T):
    built = T.StepLRScheduler(opt(), decay_t=10)
    with pytest.raises(TypeError, match=r"give it alone, got \['lr'\]"):
        peer(built, lr=0.1)
