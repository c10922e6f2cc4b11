"""Warm-up + cosine, times reduce-on-plateau, on sklearn's digits; checkpoint and resume.

    .venv/bin/python examples/torch_warmup_cosine_plateau.py

Trains a small MLP with AdamW for 8 epochs. The learning rate is a 50-step linear warm-up
into a cosine over the whole run (stepped every batch), multiplied by a plateau factor fed
with the validation loss after every epoch. Halfway through, the run is checkpointed
(``torch.save`` of the optimizer and scheduler state dicts), rebuilt from scratch and
resumed: the resumed run uses exactly the learning rates the uninterrupted one did.
"""

from __future__ import annotations

import io

import torch
from sklearn.datasets import load_digits

import lrkit
from lrkit.torch import Scheduler

EPOCHS, BATCH = 8, 64


def data() -> tuple[torch.Tensor, ...]:
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    return x[:1400], y[:1400], x[1400:], y[1400:]


def build() -> tuple[torch.nn.Module, torch.optim.Optimizer, Scheduler]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    steps = EPOCHS * -(-1400 // BATCH)
    schedule = lrkit.warmup(lrkit.cosine(init=3e-3, steps=steps, end=1e-5), warmup_steps=50)
    # halve the lr whenever the validation loss improves by less than 5%
    schedule = schedule * lrkit.plateau(factor=0.5, patience=0, threshold=0.05)
    return model, opt, Scheduler(opt, schedule)


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Scheduler,
          epochs: range) -> list[float]:
    xt, yt, xv, yv = data()
    lrs = []
    for epoch in epochs:
        for i in range(0, len(xt), BATCH):
            loss = torch.nn.functional.cross_entropy(model(xt[i:i + BATCH]), yt[i:i + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()
            lrs.append(opt.param_groups[0]["lr"])
            sched.step()
        with torch.no_grad():
            val = torch.nn.functional.cross_entropy(model(xv), yv).item()
            acc = (model(xv).argmax(1) == yv).float().mean().item()
        reduced = sched.observe(val)  # the plateau factor sees the validation loss
        print(f"epoch {epoch}: val_loss {val:.4f}  acc {acc:.3f}  "
              f"next lr {sched.get_last_lr()[0]:.2e}{'  (reduced)' if reduced else ''}")
    return lrs


def main() -> None:
    print("uninterrupted run")
    full = train(*build(), range(EPOCHS))

    print("run stopped after 4 epochs, checkpointed, rebuilt and resumed")
    model, opt, sched = build()
    first = train(model, opt, sched, range(4))
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)  # builtins only: weights_only works

    model, opt, sched = build()  # fresh objects; any load order gives the same result
    sched.load_state_dict(ckpt["sched"])
    opt.load_state_dict(ckpt["opt"])
    model.load_state_dict(ckpt["model"])
    rest = train(model, opt, sched, range(4, EPOCHS))
    same = first + rest == full
    print(f"resumed learning rates identical to the uninterrupted run: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
