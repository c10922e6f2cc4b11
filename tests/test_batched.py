"""Batched layers, batched attention and per-run randomness: R runs at once equal R runs
alone (float64, outputs and gradients), and training them batched equals ``train_one``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lrkit
from lrkit.experiment.batched import BatchedModel, fast_path
from lrkit.experiment.models import GPT
from lrkit.experiment.optim import decays
from lrkit.experiment.tasks import Task, conv1d_net, mnist1d_task, tiny_lm_task
from lrkit.experiment.trainer import Run, RunResult, train, train_one

F64 = torch.float64
torch.set_num_threads(1)


def _modules(make, seeds):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(make().to(F64))
    return out


MODELS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)),
            lambda g: torch.randn(4, 6, generator=g, dtype=F64)),
    "conv1d": (lambda: conv1d_net(width=4, length=12, classes=3),
               lambda g: torch.randn(4, 1, 12, generator=g, dtype=F64)),
    "conv2d": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                     nn.Conv2d(3, 4, 3, stride=2, bias=False), nn.GELU(),
                                     nn.Flatten(), nn.Linear(4, 2)),
               lambda g: torch.randn(5, 2, 8, 8, generator=g, dtype=F64)),
    "layernorm-embedding": (lambda: nn.Sequential(nn.Embedding(7, 4), nn.LayerNorm(4),
                                                  nn.Linear(4, 7)),
                            lambda g: torch.randint(0, 7, (3, 5), generator=g)),
    "gpt": (lambda: GPT(context=6, d=8, layers=2, heads=2, vocab=11),
            lambda g: torch.randint(0, 11, (3, 6), generator=g)),
}


@pytest.mark.filterwarnings("ignore:There is a performance drop")
@pytest.mark.parametrize("name", list(MODELS))
def test_batched_layers_equal_each_run_alone_outputs_and_gradients(name):
    make, data = MODELS[name]
    seeds = [0, 1, 2]
    alone = _modules(make, seeds)
    bm = BatchedModel(alone, seeds)
    assert bm.path == "layers" and fast_path(alone[0])
    g = torch.Generator().manual_seed(5)
    xs = torch.stack([data(g) for _ in seeds])
    out = bm(xs)
    w = torch.randn(out.shape, generator=g, dtype=F64)  # a loss that mixes every output
    grads = torch.autograd.grad((out * w).sum(), list(bm.params.values()))
    for r, m in enumerate(alone):
        ref = m(xs[r])
        np.testing.assert_allclose(out[r].detach().numpy(), ref.detach().numpy(),
                                   rtol=1e-12, atol=1e-12)
        ref_g = torch.autograd.grad((ref * w[r]).sum(), list(m.parameters()))
        for (k, _), gb, ga in zip(bm.params.items(), grads, ref_g):
            np.testing.assert_allclose(gb[r].numpy(), ga.numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=k)
    shared = bm(xs[0], shared=True)  # one batch for every run (evaluation)
    for r, m in enumerate(alone):
        np.testing.assert_allclose(shared[r].detach().numpy(), m(xs[0]).detach().numpy(),
                                   rtol=1e-12, atol=1e-12)
    bm.path = "vmap"  # the general path gives the same numbers
    np.testing.assert_allclose(bm(xs).detach().numpy(), out.detach().numpy(), rtol=1e-12,
                               atol=1e-12)


def test_models_off_the_fast_path_use_vmap():
    assert not fast_path(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    assert not fast_path(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1)))
    assert not fast_path(nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular"))
    assert BatchedModel([nn.Dropout(0.5)]).path == "vmap"


class Noisy(nn.Module):
    """Dropout and an augmentation (random shift and noise) in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 8)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            x = x + 0.1 * torch.randn_like(x)
        return self.out(self.drop(torch.relu(self.lin(x))))


def _noisy_task() -> Task:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 1).long()
    return Task("noisy", lambda s: (x[:80], y[:80], x[80:], y[80:]), Noisy)


def _same(a: RunResult, b: RunResult, rtol: float) -> None:
    np.testing.assert_array_equal(a.eval_steps, b.eval_steps)
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=rtol)
    np.testing.assert_allclose(a.val_loss, b.val_loss, rtol=rtol)


def test_random_forward_is_seeded_per_run_alone_and_batched_alike():
    """Dropout and augmentation draw from each run's own stream: a run trained alone,
    batched beside others, or twice, gives the same numbers; another seed does not."""
    task = _noisy_task()
    s = lrkit.constant(0.1)
    runs = [Run("a", s, 0), Run("b", s, 1), Run("c", lrkit.constant(0.05), 2)]
    batched = train(task, runs, steps=12, batch_size=16, dtype=F64)
    for run, b in zip(runs, batched):
        _same(train_one(task, run, steps=12, batch_size=16, dtype=F64), b, rtol=1e-10)
    again = train(task, runs[:1], steps=12, batch_size=16, dtype=F64)[0]
    np.testing.assert_array_equal(again.train_loss, batched[0].train_loss)
    assert not np.allclose(batched[0].train_loss, batched[1].train_loss)
    torch.manual_seed(123)
    expected = torch.rand(2)
    torch.manual_seed(123)
    train(task, runs[:2], steps=2, batch_size=16)
    assert torch.equal(torch.rand(2), expected)  # the caller's generator is untouched


TINY_LM = dict(context=16, d=16, layers=1, heads=2, max_bytes=30_000, max_val=24)


def test_tiny_lm_batched_equals_torch_adamw_with_clipping_and_no_decay_groups():
    task = tiny_lm_task(**TINY_LM)
    xt, yt, xv, yv = task.data(0)
    assert xt.dtype == torch.int64 and xt.shape[1] == yt.shape[1] == 16
    assert torch.equal(xt[:, 1:], yt[:, :-1])  # next-byte targets
    model = task.build(0)
    dec = decays(model, "adamw")
    assert {k for k, v in dec.items() if v} == {
        "blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight", "blocks.0.mlp.0.weight",
        "blocks.0.mlp.2.weight", "head.weight"}
    runs = [Run("w", lrkit.warmup(lrkit.cosine(init=3e-3, steps=8), warmup_steps=2), 0),
            Run("c", lrkit.constant(1e-2), 4)]
    kw = dict(steps=8, batch_size=4, eval_every=3, dtype=F64, grad_clip=0.5)
    batched = train(task, runs, **kw)
    assert batched[0].eval_steps.tolist() == [0, 3, 6, 8]
    for run, b in zip(runs, batched):
        _same(train_one(task, run, **kw), b, rtol=1e-10)
    assert abs(batched[0].val_loss[0] - np.log(256)) < 0.05  # nats per byte, untrained
    assert batched[1].val_loss[-1] < batched[1].val_loss[0] - 0.5


def test_mnist1d_batched_equals_one_run_training():
    task = mnist1d_task(samples=400, width=6)
    xt, yt, xv, _ = task.data(0)
    assert xt.shape[1:] == (1, 40) and len(xt) == 320 and len(xv) == 80
    runs = [Run("a", lrkit.constant(0.05), 0), Run("b", lrkit.cosine(init=0.1, steps=10), 1)]
    batched = train(task, runs, steps=10, batch_size=32, dtype=F64)
    for run, b in zip(runs, batched):
        _same(train_one(task, run, steps=10, batch_size=32, dtype=F64), b, rtol=1e-10)
    assert task.setting("optimizer") == "sgd" and task.setting("momentum") == 0.9


def test_mnist1d_is_generated_locally_cached_and_leaves_global_rngs_alone(tmp_path,
                                                                          monkeypatch):
    import random

    monkeypatch.setenv("LRKIT_CACHE", str(tmp_path))
    np.random.seed(7)
    random.seed(7)
    expected = (np.random.rand(), random.random())
    np.random.seed(7)
    random.seed(7)
    a = mnist1d_task(samples=200).data(0)
    assert (np.random.rand(), random.random()) == expected
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 1
    b = mnist1d_task(samples=200).data(0)  # from the cache: the same arrays
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = 200
    ref = make_dataset(args)  # the package itself, called directly
    np.testing.assert_array_equal(a[0][:, 0].numpy(), ref["x"].astype(np.float32))
    np.testing.assert_array_equal(a[3].numpy(), ref["y_test"])
