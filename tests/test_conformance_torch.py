"""Conformance with PyTorch's own schedulers (and Hugging Face's and timm's formulas).

Every peer value here is computed by the peer: a real ``torch.optim.SGD`` with
one parameter, its scheduler stepped once per update, the learning rate read
from ``optimizer.param_groups[0]["lr"]`` (``t`` = number of ``step()`` calls,
so the first update uses ``s(0)``). We compare 5,000 steps to 1e-12 relative.

Tolerance decision (schedules whose peer formula cancels near the floor: the
cosine family, PolynomialLR's chainable ratios, OneCycleLR's phase ends).
Near a cosine's floor,
``1 + cos(pi t / T)`` cancels: any double evaluation of it (PyTorch's closed
form, its recursive "chainable" form, Hugging Face's lambda) carries an
*absolute* error of a few ``eps * peak`` there, i.e. a relative error of
``eps * peak / (value - floor)`` -- 2e-10 relative at t = T - 1 for T = 5000,
and growing like T**2. Which side is right is settled against the exact value
(mpmath, 40 digits): lrkit evaluates the same curve as ``sin(pi (T - t) / 2T) ** 2``
and is within 1e-13 relative of the exact value at every step
(``assert_exact``), while the peers are not. So peers are compared with
``rtol=1e-12`` plus ``atol=64 * eps * peak`` (1.4e-15 for peak 0.1), and only
for those; every other schedule is compared with ``atol=0``.

Deliberate differences, asserted explicitly below: past its end a finite
lrkit schedule holds its final value, while CosineAnnealingLR climbs back up
(it is periodic in 2*T_max), OneCycleLR extrapolates at step T and raises
ValueError on the next step, and Hugging Face's cosine rises after N.
"""

import importlib.util
import math
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import lrkit
from lrkit import constant, cosine, join, linear, warmup

torch = pytest.importorskip("torch")
mpmath = pytest.importorskip("mpmath")
lr_scheduler = torch.optim.lr_scheduler

N = 5000
LR = 0.1
EPS = np.finfo(float).eps
COS_ATOL = 64 * EPS * LR


def torch_lrs(make, n=N, lr=LR, momentum=0.0, key="lr"):
    """Values the optimizer holds for updates 0..n-1 (a real SGD, the scheduler stepped
    after each update). Returns (values, optimizer, scheduler)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum)
    sched = make(opt)
    out = []
    for _ in range(n):
        v = opt.param_groups[0][key]
        assert type(v) is float
        out.append(v)
        opt.step()
        sched.step()
    return np.array(out), opt, sched


def ours(s, n=N):
    v = s.values(n)
    np.testing.assert_allclose([s(t) for t in range(0, n, 97)], v[::97], rtol=1e-13, atol=0)
    return v


def assert_conforms(mine, theirs, *, cancels=False):
    """1e-12 relative; plus 64 eps * peak absolute where the peer's formula reaches its
    floor by cancellation (see the module docstring)."""
    atol = COS_ATOL if cancels else 0.0
    np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=atol)


def assert_exact(mine, exact_fn, rtol=1e-13, atol=0.0):
    """lrkit against the exact value (mpmath at 40 digits) at every step."""
    with mpmath.workdps(40):
        exact = np.array([float(exact_fn(mpmath.mpf(t))) for t in range(len(mine))])
    np.testing.assert_allclose(mine, exact, rtol=rtol, atol=atol)


def exact_cos(peak, end, z):
    """end + (peak - end) * (1 + cos(pi z)) / 2, in mpmath."""
    return end + (peak - end) * (1 + mpmath.cos(mpmath.pi * z)) / 2


# -- simple decays ----------------------------------------------------------------------


@pytest.mark.parametrize("step_size", [1, 7, 30])
def test_steplr(step_size):
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.StepLR(o, step_size=step_size, gamma=0.9))
    assert_conforms(ours(lrkit.step_decay(LR, factor=0.9, every=step_size)), theirs)


@pytest.mark.parametrize("milestones", [[300, 1200, 4000], [100, 100, 2500, 2500, 2500]])
def test_multisteplr_including_repeated_milestones(milestones):
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.MultiStepLR(o, milestones=milestones,
                                                              gamma=0.3))
    assert_conforms(ours(lrkit.multistep(LR, factor=0.3, at=tuple(milestones))), theirs)
    if milestones[0] == milestones[1]:  # a repeated milestone drops twice
        assert theirs[100] == pytest.approx(LR * 0.09, rel=1e-15)


def test_constantlr_as_piecewise_and_as_product():
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.ConstantLR(o, factor=0.25, total_iters=700))
    assert_conforms(ours(lrkit.piecewise(levels=(0.25 * LR, LR), at=(700,))), theirs)
    assert_conforms(ours(LR * lrkit.piecewise(levels=(0.25, 1.0), at=(700,))), theirs)
    assert_conforms(ours(join(constant(0.25 * LR, steps=700), constant(LR))), theirs)


@pytest.mark.parametrize(("start", "end", "iters"), [(1 / 3, 1.0, 5), (0.01, 1.0, 1000),
                                                      (1.0, 0.05, 4000), (0.5, 0.0, 4999)])
def test_linearlr(start, end, iters):
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.LinearLR(o, start_factor=start,
                                                           end_factor=end, total_iters=iters))
    assert_conforms(ours(linear(init=start * LR, end=end * LR, steps=iters)), theirs)


@pytest.mark.parametrize("gamma", [0.999, 0.99, 0.5])
def test_exponentiallr(gamma):
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.ExponentialLR(o, gamma=gamma))
    mine = ours(lrkit.exponential(LR, factor=gamma))
    # the recursive form multiplies by gamma once per step: compare where it has not
    # underflowed into subnormals (0.5**5000 is far below the smallest double)
    normal = theirs > np.finfo(float).tiny
    assert_conforms(mine[normal], theirs[normal])
    assert np.all(mine[~normal] < 1e-300)


@pytest.mark.parametrize(("iters", "power"), [(4000, 1.0), (4000, 2.0), (4999, 0.5), (100, 3)])
def test_polynomiallr(iters, power):
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.PolynomialLR(o, total_iters=iters,
                                                               power=power))
    mine = ours(lrkit.polynomial(init=LR, steps=iters, power=power))
    # PolynomialLR's chainable form multiplies ratios ((1 - t/T) / (1 - (t-1)/T)) ** power;
    # like the cosine it loses relative precision as the value approaches 0 at T.
    assert_conforms(mine, theirs, cancels=True)
    assert_exact(mine, lambda t: LR * (1 - min(t, iters) / mpmath.mpf(iters)) ** power,
                 rtol=1e-13)


# -- cosine family ----------------------------------------------------------------------


@pytest.mark.parametrize(("T", "eta_min"), [(N - 1, 0.0), (1000, 0.0), (3000, 1e-4)])
def test_cosineannealinglr_up_to_tmax_then_lrkit_holds(T, eta_min):
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=T,
                                                                    eta_min=eta_min))
    s = cosine(init=LR, steps=T, end=eta_min)
    mine = ours(s)
    upto = slice(0, T + 1)
    assert_conforms(mine[upto], theirs[upto], cancels=True)
    assert_exact(mine[upto], lambda t: exact_cos(LR, eta_min, t / T))
    if T < N - 1:
        # past T_max torch climbs back up (periodic in 2 T_max); lrkit holds eta_min
        assert np.all(mine[T:] == eta_min)
        assert theirs[min(2 * T, N - 1)] > 0.5 * LR
        assert np.all(np.diff(theirs[T:min(2 * T, N - 1)]) > 0)
        # ... and that periodic curve is available explicitly, as a value
        periodic = lrkit.repeat(lrkit.interpolate(
            knots=((0, LR), (T, eta_min), (2 * T, LR)), shape="cosine"))
        assert_conforms(ours(periodic), theirs, cancels=True)


@pytest.mark.parametrize(("T0", "mult"), [(100, 1), (37, 1), (50, 2), (10, 3)])
def test_cosineannealingwarmrestarts(T0, mult):
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.CosineAnnealingWarmRestarts(
        o, T_0=T0, T_mult=mult, eta_min=1e-4))
    mine = ours(lrkit.cosine_restarts(init=LR, cycle_steps=T0, cycle_mult=mult, end=1e-4))
    assert_conforms(mine, theirs, cancels=True)

    def exact(t):
        start, period = 0, T0
        while start + period <= t:
            start, period = start + period, period * mult
        return exact_cos(LR, mpmath.mpf("1e-4"), (t - start) / period)

    assert_exact(mine, exact)
    restarts = [0, T0] if mult == 1 else [0, T0, T0 + T0 * mult]
    assert all(mine[r] == LR for r in restarts)


@pytest.mark.parametrize(("shape", "anneal"), [("cosine", "cos"), ("linear", "linear")])
@pytest.mark.parametrize("three_phase", [False, True])
def test_onecyclelr_then_lrkit_holds(shape, anneal, three_phase):
    """OneCycleLR(total_steps=T, pct_start=p) == one_cycle(steps=T-1, up_frac=(p*T-1)/(T-1)):
    PyTorch's knots are at 0, p*T - 1 (and 2*p*T - 2), T - 1."""
    make = lambda o: lr_scheduler.OneCycleLR(  # noqa: E731
        o, max_lr=LR, total_steps=N, anneal_strategy=anneal, three_phase=three_phase)
    theirs, opt, sched = torch_lrs(make, momentum=0.9)
    moms, *_ = torch_lrs(make, momentum=0.9, key="momentum")
    s = lrkit.one_cycle(LR, steps=N - 1, up_frac=(0.3 * N - 1) / (N - 1), shape=shape,
                        three_phase=three_phase)
    assert s.length == N - 1
    mine = ours(s)
    assert_conforms(mine, theirs, cancels=True)
    np.testing.assert_allclose(ours(s.momentum(low=0.85, high=0.95)), moms, rtol=1e-12,
                               atol=64 * EPS)
    low, final = LR / 25, LR / 25 / 1e4
    knots = [(0, low), (0.3 * N - 1, LR), (N - 1, final)]
    if three_phase:
        knots = [(0, low), (0.3 * N - 1, LR), (0.6 * N - 2, low), (N - 1, final)]

    def exact(t):
        for (t0, v0), (t1, v1) in zip(knots, knots[1:]):
            if t <= t1:
                pct = (t - mpmath.mpf(t0)) / (mpmath.mpf(t1) - t0)
                if shape == "cosine":
                    return v1 + (mpmath.mpf(v0) - v1) / 2 * (mpmath.cos(mpmath.pi * pct) + 1)
                return v0 + (mpmath.mpf(v1) - v0) * pct
        return final

    assert_exact(mine, exact, rtol=1e-13)
    # past the end: torch's N-th value extrapolates the last phase (the cosine rises again,
    # the linear ramp goes negative) and the next step raises; lrkit holds the final value.
    assert mine[-1] == final and s(N) == s(N - 1) == s(10**9) == final
    extrapolated = opt.param_groups[0]["lr"]
    assert extrapolated > final if shape == "cosine" else extrapolated < 0
    with pytest.raises(ValueError, match="Tried to step"):
        sched.step()


@pytest.mark.parametrize(("mode", "gamma"), [("triangular", 1.0), ("triangular2", 1.0),
                                             ("exp_range", 0.9995)])
@pytest.mark.parametrize(("up", "down"), [(200, None), (300, 700)])
def test_cycliclr(mode, gamma, up, down):
    # CyclicLR writes base_lr into the optimizer on construction, and cycles momentum
    # (which SGD must therefore have)
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.CyclicLR(
        o, base_lr=0.001, max_lr=0.006, step_size_up=up, step_size_down=down, mode=mode,
        gamma=gamma), momentum=0.9)
    mine = ours(lrkit.cyclic(0.001, peak=0.006, up_steps=up, down_steps=down, policy=mode,
                             factor=gamma))
    assert_conforms(mine, theirs)


# -- composites -------------------------------------------------------------------------


def test_sequentiallr_linear_then_cosine():
    W = 500
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.SequentialLR(o, [
        lr_scheduler.LinearLR(o, start_factor=0.01, total_iters=W),
        lr_scheduler.CosineAnnealingLR(o, T_max=N - W),
    ], milestones=[W]))
    joined = ours(join(linear(init=0.01 * LR, end=LR, steps=W), cosine(init=LR, steps=N - W)))
    assert_conforms(joined, theirs, cancels=True)
    assert_exact(joined, lambda t: LR * (mpmath.mpf("0.01") + mpmath.mpf("0.99") * t / W)
                 if t < W else exact_cos(LR, 0, (t - W) / (N - W)), atol=COS_ATOL)
    # the one-expression recipe: warm up W steps then cosine to N, N counting the warm-up.
    # Re-timing [W, N] onto [0, N] rounds the cosine's time to the float spacing at N, so
    # near the end it matches to the same absolute tolerance as the peers.
    recipe = ours(warmup(cosine(init=LR, steps=N), warmup_steps=W, init=0.01 * LR))
    assert_conforms(recipe, theirs, cancels=True)
    np.testing.assert_allclose(recipe, joined, rtol=1e-12, atol=COS_ATOL)


# -- Hugging Face transformers (its LambdaLR schedules, stepped on a real SGD) ----------------


@pytest.fixture(scope="module")
def hf():
    return pytest.importorskip("transformers.optimization")


def test_hf_cosine_with_warmup(hf):
    W = 400
    theirs, *_ = torch_lrs(lambda o: hf.get_cosine_schedule_with_warmup(o, W, N - 1))
    s = warmup(cosine(init=LR, steps=N - 1), warmup_steps=W)
    mine = ours(s)
    assert_conforms(mine, theirs, cancels=True)
    # past num_training_steps, HF's 0.5 * (1 + cos(pi p)) rises again; lrkit holds 0
    past, *_ = torch_lrs(lambda o: hf.get_cosine_schedule_with_warmup(o, W, 1000), n=1500)
    assert past[1400] > past[1000] == 0.0
    assert warmup(cosine(init=LR, steps=1000), warmup_steps=W)(1400) == 0.0


def test_hf_linear_with_warmup(hf):
    W = 300
    theirs, *_ = torch_lrs(lambda o: hf.get_linear_schedule_with_warmup(o, W, 4000))
    assert_conforms(ours(warmup(linear(init=LR, end=0.0, steps=4000), warmup_steps=W)), theirs)


def test_hf_constant_with_warmup(hf):
    theirs, *_ = torch_lrs(lambda o: hf.get_constant_schedule_with_warmup(o, 250))
    assert_conforms(ours(warmup(constant(LR), warmup_steps=250)), theirs)


@pytest.mark.parametrize("timescale", [None, 1000])
def test_hf_inverse_sqrt(hf, timescale):
    W = 500
    theirs, *_ = torch_lrs(lambda o: hf.get_inverse_sqrt_schedule(o, W, timescale=timescale))
    tau = timescale or W
    assert_conforms(ours(warmup(lrkit.inverse_sqrt(init=LR, every=tau), warmup_steps=W)), theirs)


@pytest.mark.parametrize(("warmup_type", "decay_type"), [
    ("linear", "cosine"), ("linear", "linear"), ("cosine", "1-sqrt"), ("cosine", "cosine")])
@pytest.mark.parametrize("ratio", [0.0, 0.1])
def test_hf_wsd(hf, warmup_type, decay_type, ratio):
    W, S, D = 300, 2700, 1000
    theirs, *_ = torch_lrs(lambda o: hf.get_wsd_schedule(
        o, num_warmup_steps=W, num_decay_steps=D, num_stable_steps=S,
        warmup_type=warmup_type, decay_type=decay_type, min_lr_ratio=ratio))
    # HF's warm-up starts at min_lr_ratio * lr; its stable+decay phases follow in front
    s = warmup(lrkit.wsd(init=LR, steps=S + D, decay_steps=D, end=ratio * LR, shape=decay_type),
               warmup_steps=W, init=ratio * LR, shape=warmup_type, fit=False)
    assert_conforms(ours(s), theirs, cancels=True)


# -- timm (its scheduler modules, loaded without timm's heavy package import) ----------------


@pytest.fixture(scope="module")
def timm_sched():
    spec = importlib.util.find_spec("timm")
    if spec is None or spec.origin is None:
        pytest.skip("timm is not installed")
    folder = Path(spec.origin).parent / "scheduler"
    pkg = types.ModuleType("_timm_scheduler")
    pkg.__path__ = [str(folder)]
    sys.modules["_timm_scheduler"] = pkg
    mods = {}
    for name in ("scheduler", "cosine_lr", "tanh_lr"):
        s = importlib.util.spec_from_file_location(f"_timm_scheduler.{name}",
                                                   folder / f"{name}.py")
        mod = importlib.util.module_from_spec(s)
        sys.modules[s.name] = mod
        s.loader.exec_module(mod)
        mods[name] = mod
    return types.SimpleNamespace(cosine=mods["cosine_lr"].CosineLRScheduler,
                                 tanh=mods["tanh_lr"].TanhLRScheduler)


def timm_lrs(make, n=N):
    """timm's epoch-based stepping: ``step(t)`` sets the lr for epoch t."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR)
    sched = make(opt)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(n):
            sched.step(t)
            out.append(opt.param_groups[0]["lr"])
    return np.array(out)


@pytest.mark.parametrize(("kw", "mine"), [
    ({"t_initial": 4000, "lr_min": 1e-4}, cosine(init=LR, steps=4000, end=1e-4)),
    ({"t_initial": 4000, "k_decay": 2.0}, cosine(init=LR, steps=4000, progress_power=2.0)),
    ({"t_initial": 1000, "lr_min": 1e-4, "cycle_limit": 4, "cycle_decay": 0.5},
     lrkit.cosine_restarts(init=LR, cycle_steps=1000, cycle_factor=0.5, end=1e-4, cycles=4)),
    ({"t_initial": 500, "cycle_mul": 2, "cycle_limit": 3, "cycle_decay": 0.8},
     lrkit.cosine_restarts(init=LR, cycle_steps=500, cycle_mult=2, cycle_factor=0.8, cycles=3)),
    ({"t_initial": 4000, "warmup_t": 200, "warmup_lr_init": 1e-4, "warmup_prefix": True},
     warmup(cosine(init=LR, steps=4000), warmup_steps=200, init=1e-4, fit=False)),
    # warmup_prefix=False: the warm-up overlaps the cosine, which then starts at t = 200
    ({"t_initial": 4000, "warmup_t": 200, "warmup_lr_init": 1e-4},
     join(linear(init=1e-4, end=LR, steps=200), lrkit.shift(cosine(init=LR, steps=4000),
                                                             delay=-200))),
])
def test_timm_cosine(timm_sched, kw, mine):
    theirs = timm_lrs(lambda o: timm_sched.cosine(o, **kw))
    assert_conforms(ours(mine), theirs, cancels=True)


@pytest.mark.parametrize(("kw", "mine"), [
    ({"t_initial": 4000}, lrkit.tanh(init=LR, steps=4000)),
    ({"t_initial": 4000, "lb": -6.0, "ub": 4.0, "lr_min": 1e-3},
     lrkit.tanh(init=LR, steps=4000, x_start=-6.0, x_end=4.0, end=1e-3)),
])
def test_timm_tanh(timm_sched, kw, mine):
    theirs = timm_lrs(lambda o: timm_sched.tanh(o, **kw))
    # timm evaluates 1 - tanh(x), which cancels for large x (ub): compare with its rounding
    mine_v = ours(mine)
    np.testing.assert_allclose(mine_v, theirs, rtol=1e-12, atol=4 * EPS * LR)
    assert_exact(mine_v, lambda t: mine.end if t >= 4000 else mine.end + (
        mine.init - mine.end) / 2 * (1 - mpmath.tanh(mine.x_start * (1 - t / 4000)
                                                     + mine.x_end * t / 4000)))


def test_cosine_tolerance_is_needed_and_sufficient():
    """The documented tolerance is not slack: near eta_min = 0 the peer is off by more than
    1e-12 relative (so plain rtol would fail), and lrkit is the one that is exact there."""
    T = N - 1
    theirs, *_ = torch_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=T))
    mine = ours(cosine(init=LR, steps=T))
    with mpmath.workdps(40):
        exact = float(exact_cos(LR, 0, mpmath.mpf(T - 1) / T))
    assert abs(theirs[T - 1] - exact) > 1e-12 * exact
    assert abs(mine[T - 1] - exact) <= 1e-15 * exact
    assert abs(theirs[T - 1] - mine[T - 1]) <= COS_ATOL
    assert math.isclose(theirs[T // 2], mine[T // 2], rel_tol=1e-14)
