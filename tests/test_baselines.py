"""Schedule-Free SGD/AdamW and Prodigy: batched = the reference packages, and compare's entries.

The references are the real packages (``schedulefree``, ``prodigyopt``), run one model each,
float64, for at least 50 steps, switched between train and eval mode as their documentation
asks; the batched optimizers update R runs stacked ``[R, ...]`` at once.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

import lrkit
from lrkit.experiment import candidates, grid, recipe
from lrkit.experiment import compare as cmp
from lrkit.experiment.baselines import KINDS, build, decay_rule, reference, warmup_steps
from lrkit.experiment.optim import Optim, decays
from lrkit.experiment.trainer import Run, train, train_one

pytest.importorskip("schedulefree")
pytest.importorskip("prodigyopt")

F64 = torch.float64
torch.set_num_threads(1)
BASELINE_KINDS = ["sf-sgd", "sf-adamw", "prodigy"]
STEPS = 60


def _net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.LayerNorm(8), nn.Linear(8, 1)).to(F64)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(64, 6, generator=g, dtype=F64)
    return x, (x[:, :1] * 2 - x[:, 1:2] ** 2 + 0.1 * torch.randn(64, 1, generator=g, dtype=F64))


def _loss(model: nn.Module, params: dict[str, torch.Tensor] | None, i: int) -> torch.Tensor:
    x, y = _data()
    xb, yb = x[(i * 16) % 64:(i * 16) % 64 + 16], y[(i * 16) % 64:(i * 16) % 64 + 16]
    out = model(xb) if params is None else functional_call(model, params, (xb,))
    return ((out - yb) ** 2).mean()


@pytest.mark.parametrize("kind", BASELINE_KINDS)
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_batched_optimizer_equals_the_package_on_each_run_in_train_and_eval_mode(kind, wd):
    """R runs with their own rates, updated as one batch, equal R models each updated by the
    package's optimizer: the parameters in train mode (y) and, after ``eval()``, in eval mode
    (x), switched every 10 steps, over 60 steps."""
    seeds, lrs = [0, 1, 2], ([0.05, 0.02, 0.1] if kind == "sf-sgd" else
                             [0.01, 0.02, 0.005] if kind == "sf-adamw" else [1.0, 0.5, 0.25])
    hp = Optim(kind="sgd", momentum=0.9, weight_decay=wd)
    refs = [_net(s) for s in seeds]
    base = _net(0)
    rule = decay_rule(kind)
    opts = [reference(kind, m, decays(m, rule), hp, STEPS) for m in refs]
    names = [n for n, _ in base.named_parameters()]
    stacked = {n: torch.stack([dict(m.named_parameters())[n].detach().clone() for m in refs])
               for n in names}
    batched = build(stacked, lambda r: decays(base, r), [kind] * 3, hp, STEPS)
    for o, lr in zip(opts, lrs):
        o.param_groups[0]["lr"] = o.param_groups[-1]["lr"] = lr
    for o in opts:
        getattr(o, "train", lambda: None)()
    batched.train()
    lr_t = torch.tensor(lrs, dtype=F64)
    alive = torch.ones(3, dtype=torch.bool)
    for step in range(STEPS):
        grads = []
        for r, (m, o) in enumerate(zip(refs, opts)):
            o.zero_grad()
            _loss(m, None, step + r).backward()
            o.step()
            p = {n: stacked[n][r].detach().requires_grad_() for n in names}
            gs = torch.autograd.grad(_loss(base, p, step + r), list(p.values()))
            grads.append(gs)
        batched.step([torch.stack([g[i] for g in grads]) for i in range(len(names))], lr_t,
                     alive)
        modes = ["train"] + (["eval", "train"] if step % 10 == 9 else [])
        for mode in modes:
            if mode == "eval":
                for o in opts:
                    getattr(o, "eval", lambda: None)()
                batched.eval()
            else:
                for o in opts:
                    getattr(o, "train", lambda: None)()
                batched.train()
            for r, m in enumerate(refs):
                for n, p in m.named_parameters():
                    torch.testing.assert_close(stacked[n][r], p.detach(), rtol=1e-10, atol=1e-12)
    moved = max(float((stacked[n] - torch.stack([dict(_net(s).named_parameters())[n].detach()
                                                  for s in seeds])).abs().max()) for n in names)
    assert moved > 1e-2  # the runs really trained


def test_schedule_free_eval_weights_are_the_weighted_average_x():
    """``eval()`` puts x = the average of the z iterates weighted by lr_max^2 (after
    warm-up: uniform) into the parameters, and ``train()`` puts back y = (1 - b) z + b x."""
    hp = Optim(kind="sgd", momentum=0.9)
    warm = warmup_steps("sf-sgd", 50)
    assert warm == 3  # ceil(5 % of 50)
    base = _net(3)
    p0 = {n: p.detach().clone()[None] for n, p in base.named_parameters()}
    params = {n: v.clone() for n, v in p0.items()}
    opt = build(params, lambda r: decays(base, r), ["sf-sgd"], hp, 50)
    opt.train()
    x = {n: v.clone() for n, v in p0.items()}
    wsum, lr = 0.0, 0.2
    for k in range(50):
        p = {n: v[0].detach().requires_grad_() for n, v in params.items()}
        gs = torch.autograd.grad(_loss(base, p, k), list(p.values()))
        opt.step([g[None] for g in gs], torch.tensor([lr], dtype=F64),
                 torch.ones(1, dtype=torch.bool))
        w = (lr * min(1.0, (k + 1) / warm)) ** 2
        wsum += w
        for n in x:  # x_{k+1} = (1 - c) x_k + c z_{k+1}, c = w / sum w
            x[n] = x[n] + (opt.state[n][0] - x[n]) * (w / wsum)
    y = {n: v.clone() for n, v in params.items()}
    opt.eval()
    for n in x:
        torch.testing.assert_close(params[n], x[n], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(y[n], 0.1 * opt.state[n][0] + 0.9 * x[n], rtol=1e-10,
                                   atol=1e-12)
    assert max(float((y[n] - x[n]).abs().max()) for n in x) > 1e-3  # y and x differ
    opt.train()
    for n in x:
        torch.testing.assert_close(params[n], y[n], rtol=1e-10, atol=1e-12)


def _same(a, b, rtol=1e-9):
    np.testing.assert_allclose(a.lr, b.lr, rtol=1e-15)
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(a.val_metric, b.val_metric, atol=1e-12)
    assert a.diverged == b.diverged and a.diverged_at == b.diverged_at


@pytest.mark.parametrize("kind", BASELINE_KINDS)
def test_trainer_batched_equals_the_package_and_each_run_alone(kind):
    """compare's trainer: runs of a baseline batched with a schedule's run (one chunk, two
    optimizers) equal the reference loop with the package's optimizer (train() before
    training, eval() before every evaluation) and equal each run trained alone."""
    rate = {"sf-sgd": 0.3, "sf-adamw": 0.01, "prodigy": 0.5}[kind]
    runs = [Run("b0", lrkit.constant(rate), seed=0, optimizer=kind),
            Run("sgd", lrkit.cosine(init=0.1, steps=STEPS), seed=2),
            Run("b1", lrkit.constant(rate * 2), seed=1, optimizer=kind)]
    kw = dict(steps=STEPS, eval_every=20, weight_decay=0.01, dtype=F64)
    batched = train("digits-mlp", runs, **kw)
    assert [r.key for r in batched] == ["b0", "sgd", "b1"]
    for run, b in zip(runs, batched):
        _same(train_one("digits-mlp", run, **kw), b)
        _same(train("digits-mlp", [run], **kw)[0], b, rtol=1e-12)
        assert b.val_loss[-1] < b.val_loss[0] - 1  # it learned
        assert len(b.val_loss) == 4


def test_the_evaluated_weights_are_x_not_y():
    """A schedule-free run's validation loss is measured at x: it differs from the loss at
    y (what the package's reference would give without ``eval()``)."""
    from lrkit.experiment import trainer as tr

    run = Run("sf", lrkit.constant(0.5), seed=0, optimizer="sf-sgd")
    (b,) = train("digits-mlp", [run], steps=STEPS, eval_every=30, dtype=F64)
    real = tr.reference
    try:  # the reference without its eval(): what a loop that forgot it measures
        def no_switch(*a, **k):
            opt = real(*a, **k)
            opt.eval = lambda: None
            return opt
        tr.reference = no_switch
        at_y = train_one("digits-mlp", run, steps=STEPS, eval_every=30, dtype=F64)
    finally:
        tr.reference = real
    np.testing.assert_allclose(b.train_loss, at_y.train_loss, rtol=1e-10)  # same training
    assert abs(b.val_loss[-1] - at_y.val_loss[-1]) > 1e-3


def test_a_diverging_baseline_run_leaves_the_others_untouched():
    good = Run("good", lrkit.constant(0.3), seed=1, optimizer="sf-sgd")
    bad = Run("bad", lrkit.constant(1e9), seed=0, optimizer="sf-sgd")
    alone = train("digits-mlp", [good], steps=40, dtype=F64)[0]
    both = {r.key: r for r in train("digits-mlp", [bad, good], steps=40, dtype=F64)}
    assert both["bad"].diverged and not both["good"].diverged
    _same(alone, both["good"], rtol=1e-12)


def test_every_kind_is_checked():
    assert set(KINDS) == {"sgd", "adam", "adamw", *BASELINE_KINDS}
    with pytest.raises(ValueError, match="optimizer must be one of"):
        Run("x", lrkit.constant(0.1), optimizer="lion")


# -- compare's entries -------------------------------------------------------------------


def test_baseline_entries_parse_and_run_constant_rates():
    cs = candidates.parse_candidates(["wsd", "sf-sgd", "fast=sf-adamw", "prodigy"])
    assert [(c.label, c.kind, c.optimizer) for c in cs] == [
        ("wsd", "schedule", None), ("sf-sgd", "optimizer", "sf-sgd"),
        ("fast", "optimizer", "sf-adamw"), ("prodigy", "optimizer", "prodigy")]
    assert cs[1].at(600, 0.25) == lrkit.constant(0.25)
    with pytest.raises(ValueError, match="'prodigy' is an optimizer tuned over peaks"):
        candidates.parse_candidates(["prodigy"], rescale=False)
    assert set(recipe.BASELINES) == set(BASELINE_KINDS) == set(recipe.BASELINE_CENTRES)
    assert not set(recipe.BASELINES) & set(recipe.DEFAULT_SHAPES)  # not in the default set


def test_a_baseline_run_key_differs_from_the_same_constant_schedule():
    cs = candidates.parse_candidates(["constant", "sf-sgd"])
    config = {"task": "t", "optimizer": "sgd"}
    p = grid.plan(cs, [0.1], [0], 100, config)
    assert p[0].schedule == p[1].schedule == lrkit.constant(0.1)
    assert p[0].key != p[1].key and p[1].optimizer == "sf-sgd" and p[0].optimizer is None
    assert p[1].record("t", config)["optimizer"] == "sf-sgd"
    assert p[1].record("t", config)["sf_warmup"] == recipe.SF_WARMUP
    assert p[0].record("t", config)["optimizer"] == "sgd"


def test_compare_tunes_each_baseline_on_its_own_grid_and_marks_it(tmp_path):
    from lrkit.experiment.lr_find import find_lr_task
    from lrkit.experiment.report import caption, rows

    o = cmp.Options(schedules=["constant", "sf-sgd", "prodigy"], steps=40, seeds=2,
                    out=str(tmp_path), chunk_size=40)
    result = cmp.run_compare(o)
    report = result.to_dict()
    by = {r["label"]: r for r in report["schedules"]}
    assert by["constant"]["optimizer"] is None and by["prodigy"]["optimizer"] == "prodigy"
    s = report["lr_find"]["suggestion"]
    sf = find_lr_task("digits-mlp", seeds=[0, 1], optimizer="sf-sgd", **recipe.RANGE_TEST)
    base = report["baselines"]
    assert base["sf-sgd"]["centre"] == candidates.round_sig(sf.suggestion)
    assert base["prodigy"]["centre"] == 1.0
    for label in ("sf-sgd", "prodigy"):  # the same factors around its own centre
        c = base[label]["centre"]
        tried = sorted(float(p) for p in by[label]["peaks"])
        peaks = sorted(report["config"]["peaks"])
        assert len(tried) == len(peaks)
        for rate, p in zip(tried, peaks):  # rate = centre * p / s, up to the peaks' rounding
            assert abs(rate / (c * p / s) - 1) < 0.01
        # ... and with the grid's exact factor: 1/4 .. 4, extended by x2 at most twice
        exact = {candidates.round_sig(c * f * 2 ** k) for f in recipe.AUTO_FACTORS
                 for k in range(-2, 3)}
        assert set(tried) <= exact
    assert {0.25, 0.5, 1.0, 2.0, 4.0} <= {float(p) for p in by["prodigy"]["peaks"]} <= {
        0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0}
    # the best peak is the rate it ran at, and the stored schedule is constant at it
    for r in report["schedules"]:
        assert lrkit.parse(r["schedule"]) == lrkit.constant(r["best_peak"])
    _, body = rows(report)
    marked = {row[1] for row in body}
    assert {"constant", "sf-sgd (optimizer)", "prodigy (optimizer)"} == marked
    assert "(optimizer): another optimizer at a constant rate" in caption(report)
    # a rerun trains nothing and reads the same rows
    again = cmp.run_compare(o).to_dict()
    assert again["schedules"] == report["schedules"] and again["baselines"] == base


def test_fixed_peaks_put_a_baseline_around_its_centre(tmp_path):
    o = cmp.Options(schedules=["constant", "prodigy"], steps=20, seeds=1,
                    peaks="0.01,0.04", out=str(tmp_path))
    report = cmp.run_compare(o).to_dict()
    by = {r["label"]: r for r in report["schedules"]}
    assert sorted(float(p) for p in by["constant"]["peaks"]) == [0.01, 0.04]
    assert sorted(float(p) for p in by["prodigy"]["peaks"]) == [0.5, 2.0]  # 1 / 2, 1 * 2
    assert math.isclose(report["baselines"]["prodigy"]["middle"], 0.02)


def test_find_lr_steps_a_schedule_free_optimizer_in_train_mode_and_restores_it():
    from schedulefree import SGDScheduleFree

    from lrkit.experiment.lr_find import find_lr

    model = _net(0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = SGDScheduleFree(model.parameters(), lr=0.123)  # starts in eval mode
    x, y = _data()
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    r = find_lr(model, opt, nn.functional.mse_loss, batches, steps=60)
    assert 1e-5 < r.suggestion < 10 and len(r.losses) > 20
    assert opt.param_groups[0]["lr"] == 0.123 and opt.param_groups[0]["train_mode"] is False
    for n, p in model.named_parameters():
        assert torch.equal(p.detach(), before[n])


def test_cli_a_baseline_with_peaks_spec_is_one_line_exit_2(tmp_path, capsys):
    from lrkit.cli import run

    argv = ["compare", "-s", "constant(0.1)", "-s", "sf-sgd", "--peaks", "spec", "--steps", "5",
            "--seeds", "1", "--out", str(tmp_path / "o"), "-q"]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert err == ("lrkit: error: --schedules 'sf-sgd' is an optimizer tuned over peaks, and "
                   "--peaks spec runs schedules as written: choose peaks (auto, or numbers)\n")
    assert not (tmp_path / "o" / "lrkit.db").exists()


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(kind=st.sampled_from(BASELINE_KINDS), lr=st.floats(1e-3, 0.5),
       beta=st.floats(0.5, 0.99), wd=st.sampled_from([0.0, 0.01, 0.3]),
       total=st.integers(50, 120))
def test_batched_equals_the_package_on_a_quadratic_for_any_settings(kind, lr, beta, wd, total):
    """On f(p) = |A p - b|^2 / 2 (the gradient exact), for any rate, momentum (SF-SGD's b,
    Adam's beta1), weight decay and length (the warm-up is 5 % of it), the batched
    optimizer equals the package's after 50 steps, in eval mode (x) and in train mode."""
    g = torch.Generator().manual_seed(int(total))
    a = torch.randn(5, 4, generator=g, dtype=F64)
    b = torch.randn(5, generator=g, dtype=F64)
    w = torch.randn(4, generator=g, dtype=F64)
    hp = Optim(kind="sgd", momentum=beta, weight_decay=wd)
    model = nn.Linear(4, 1, bias=False).to(F64)
    with torch.no_grad():
        model.weight.copy_(w[None])
    opt = reference(kind, model, {"weight": True}, hp, total)
    for group in opt.param_groups:
        group["lr"] = lr
    params = {"weight": w[None, None].clone()}  # one run: [1, 1, 4]
    mine = build(params, lambda r: {"weight": True}, [kind], hp, total)
    getattr(opt, "train", lambda: None)()
    mine.train()
    for _ in range(50):
        opt.zero_grad()
        p = model.weight
        (0.5 * (a @ p[0] - b).square().sum()).backward()
        opt.step()
        q = params["weight"][0, 0]
        mine.step([(a.T @ (a @ q - b))[None, None]], torch.tensor([lr], dtype=F64),
                  torch.ones(1, dtype=torch.bool))
    for switch in ("eval", "train"):
        getattr(opt, switch, lambda: None)()
        getattr(mine, switch)()
        torch.testing.assert_close(params["weight"][0], model.weight.detach(), rtol=1e-9,
                                   atol=1e-11)
