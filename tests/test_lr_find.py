"""The learning-rate range test: any model, state restored, stop rule, suggestions, tasks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lrkit.experiment.lr_find import (
    LRFindResult,
    _valley,
    analyse,
    find_lr,
    find_lr_task,
    plot_lr_find,
    sweep,
)
from lrkit.experiment.recipe import RANGE_TEST
from lrkit.experiment.tasks import get_task
from lrkit.experiment.trainer import _order

torch.set_num_threads(1)


def _regression(n=512, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = x @ torch.randn(8, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)
    return x, y


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def test_find_lr_restores_model_and_optimizer_state():
    x, y = _regression()
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    F.mse_loss(model(x[:32]), y[:32]).backward()
    opt.step()  # the optimizer now holds momentum buffers
    model.eval()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    bufs = [opt.state[p]["momentum_buffer"].clone() for p in model.parameters()]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    r = find_lr(model, opt, F.mse_loss, loader, start=1e-5, end=10, steps=60)
    assert len(r.lrs) > 10 and np.all(np.diff(r.lrs) > 0)
    for k, v in model.state_dict().items():
        assert torch.equal(v, params[k]), k
    for p, b in zip(model.parameters(), bufs):
        assert torch.equal(opt.state[p]["momentum_buffer"], b)
    assert opt.param_groups[0]["lr"] == 0.05 and not model.training
    # training afterwards is exactly as if the range test never ran
    model2 = _model()
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.05, momentum=0.9)
    F.mse_loss(model2(x[:32]), y[:32]).backward()
    opt2.step()
    for m, o in ((model, opt), (model2, opt2)):
        o.zero_grad()
        F.mse_loss(m(x[32:64]), y[32:64]).backward()
        o.step()
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)


def test_find_lr_follows_the_sweep_stops_on_divergence_and_suggests_sensibly():
    x, y = _regression()
    batches = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 512, 32)]  # 16 batches, cycled
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = find_lr(model, opt, F.mse_loss, batches, start=1e-4, end=100, steps=80)
    assert r.diverged and 16 < len(r.lrs) < 80  # cycled past 16 batches, stopped before 80
    np.testing.assert_allclose(r.lrs, sweep(1e-4, 100, 80).values(80)[:len(r.lrs)])
    np.testing.assert_allclose(r.lrs[:3], [1e-4, 1e-4 * 1e6 ** (1 / 79), 1e-4 * 1e6 ** (2 / 79)])
    assert set(r.suggestions) == {"valley", "steep", "minimum", "fall"}
    assert r.suggestion == r.suggestions["valley"] and r.method == "valley"
    assert 1e-3 < r.suggestion < 2.0  # this model trains well around 1e-2 .. 1
    lin = find_lr(model, opt, F.mse_loss, batches, start=1e-3, end=1.0, steps=20,
                  mode="linear", suggestion="minimum")
    np.testing.assert_allclose(np.diff(lin.lrs), (1.0 - 1e-3) / 19)
    assert lin.suggestion == lin.suggestions["minimum"]


def test_one_shot_iterator_ends_the_sweep_early():
    x, y = _regression(64)
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = find_lr(model, opt, F.mse_loss, iter([(x[:32], y[:32]), (x[32:], y[32:])]), steps=50)
    assert len(r.lrs) == 2 and not r.diverged
    with pytest.raises(ValueError, match="data gave no batches"):
        find_lr(model, opt, F.mse_loss, [], steps=10)


def test_stop_rule_works_for_negative_losses():
    """fastai's ``smoothed > 4 * best`` would stop at the first step when the loss is
    negative; ours stops, for a shifted loss as for the original, once it explodes."""
    lrs = np.logspace(-5, 1, 100)
    base = 1.0 / (1 + (lrs / 1e-2)) + (lrs / 0.3) ** 2  # falls, bottoms out, then explodes
    bottom = int(np.argmin(base))
    pos = analyse(lrs, base + 0.5, smooth=0.9)
    neg = analyse(lrs, base - 10.0, smooth=0.9)
    assert pos.diverged and neg.diverged
    assert bottom + 5 < len(pos.lrs) <= len(neg.lrs) < 100
    assert abs(math.log10(neg.suggestion / pos.suggestion)) < 0.3
    # a loss near zero that never diverges runs to the end
    flat = analyse(lrs, 1e-3 + 1e-4 * np.exp(-lrs), smooth=0.9)
    assert not flat.diverged and len(flat.lrs) == 100
    # a non-finite loss stops the sweep and is dropped
    bad = np.where(np.arange(100) >= 40, np.inf, base)
    r = analyse(lrs, bad)
    assert r.diverged and len(r.lrs) == 40


def test_smoothing_is_the_bias_corrected_ema():
    losses = [3.0, 1.0, 2.0, 5.0]
    r = analyse([1e-3, 1e-2, 1e-1, 1.0], losses, smooth=0.5, diverge=1e9)
    avg, want = 0.0, []
    for i, v in enumerate(losses, 1):
        avg = 0.5 * avg + 0.5 * v
        want.append(avg / (1 - 0.5 ** i))
    np.testing.assert_allclose(r.smoothed, want)
    assert r.smoothed[0] == 3.0


def test_suggestions_on_a_known_curve():
    lrs = np.logspace(-6, 0, 121)
    u = np.log10(lrs)
    # flat until 1e-4, steepest fall at 1e-2.5 (a tanh step), lowest at 1e-1, then rising
    loss = 2 - np.tanh((u + 2.5) * 2) + 0.5 * np.maximum(u + 1, 0) ** 2
    r = analyse(lrs, loss, smooth=0.0, diverge=100)
    assert abs(math.log10(r.suggestions["steep"]) + 2.5) < 0.1
    assert abs(math.log10(r.suggestions["minimum"] * 10) + 1) < 0.2
    v = math.log10(r.suggestions["valley"])
    assert -4 < v < -1  # inside the falling stretch


def test_valley_matches_fastai_on_a_hand_example():
    # longest strictly decreasing subsequence of [5, 4, 6, 3, 2, 7, 1]: 5 4 3 2 1 (len 5),
    # fastai: max_end = 6, max_start = 6 - 5 = 1, sections = 5 / 3 -> 1 + 1 + 0 = 2
    assert _valley(np.array([5, 4, 6, 3, 2, 7, 1.0])) == 2


def test_find_lr_task_batched_seeds_equal_find_lr_on_each_model():
    task = get_task("teacher-student")
    res = find_lr_task(task, seeds=(0, 3), batch_size=32, start=1e-4, end=10, steps=40,
                       smooth=0.98, suggestion="valley")
    assert len(res.per_seed) == 2
    seeds_sugg = [p.suggestion for p in res.per_seed]
    assert res.suggestion == pytest.approx(math.sqrt(seeds_sugg[0] * seeds_sugg[1]))
    # the same sweep, run alone with find_lr on seed 3's model and data order
    xt, yt, _, _ = task.data(0)
    order = _order(3, 0, len(xt))
    batches = [(xt[order[i:i + 32]], yt[order[i:i + 32]]) for i in range(0, 40 * 32, 32)]
    model = task.build(3)
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    alone = find_lr(model, opt, F.mse_loss, batches, start=1e-4, end=10, steps=40)
    one = res.per_seed[1]
    assert len(alone.lrs) == len(one.lrs)
    np.testing.assert_allclose(alone.losses, one.losses, rtol=1e-4)
    assert alone.suggestions == pytest.approx(one.suggestions, rel=1e-6)


def test_find_lr_task_on_digits_and_plot(tmp_path):
    res = find_lr_task("digits-mlp", seeds=(0, 1, 2))
    assert len(res.per_seed) == 3 and res.method == RANGE_TEST["suggestion"]
    assert len(res.lrs) <= RANGE_TEST["steps"] and res.lrs[0] == RANGE_TEST["start"]
    assert 1e-3 < res.suggestion < 1.0
    med = sorted(p.suggestions["steep"] for p in res.per_seed)[1]
    assert res.suggestions["steep"] == pytest.approx(med)
    assert res.smoothed[-1] > np.nanmin(res.smoothed)  # it went past the minimum
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["suggestion"] == res.suggestion and len(d["per_seed"]) == 3
    back = LRFindResult.from_dict(d)
    assert back.to_dict() == d and back.per_seed[2].suggestions == res.per_seed[2].suggestions
    path = tmp_path / "lr_find.png"
    plot_lr_find(res, str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(start=0), "start must be a number > 0"),
        (dict(start=1e-3, end=1e-4), "end must be a finite number > start"),
        (dict(steps=1), "steps must be an integer >= 2"),
        (dict(mode="cos"), "mode must be one of"),
        (dict(smooth=1.0), r"smooth must be in \[0, 1\)"),
        (dict(diverge=1.0), "diverge must be a number > 1"),
        (dict(suggestion="slide"), "suggestion must be one of"),
    ],
)
def test_bad_arguments(kwargs, match):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=match):
        find_lr(model, opt, F.mse_loss, [_regression(32)], **kwargs)
    with pytest.raises(ValueError, match=match):
        find_lr_task("noisy-quadratic", **kwargs)
