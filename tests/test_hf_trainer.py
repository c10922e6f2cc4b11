"""The Hugging Face Trainer takes ``optimizers=(opt, lrkit Scheduler)``, logs and resumes it."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from sklearn.datasets import load_digits

import lrkit
from lrkit.torch import Scheduler
from test_lightning import import_hiding_broken_torchvision

# (see test_lightning: warning classes of these packages must not reach xdist's controller)
pytestmark = pytest.mark.filterwarnings("ignore")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    transformers = import_hiding_broken_torchvision("transformers")

STEPS = 12
SCHEDULE = lrkit.warmup(lrkit.cosine(init=0.05, steps=STEPS, end=0.005), warmup_steps=3)


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.cross_entropy(self.net(x), labels)}


def dataset() -> list[dict[str, torch.Tensor]]:
    x, y = load_digits(return_X_y=True)
    return [{"x": torch.tensor(a / 16.0, dtype=torch.float32), "labels": torch.tensor(b)}
            for a, b in zip(x[:384], y[:384])]


def make_trainer(out: Path) -> Any:
    torch.manual_seed(0)
    model = Tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1.0)
    sched = Scheduler(opt, {"lr": SCHEDULE, "beta1": 0.9})
    args = transformers.TrainingArguments(
        output_dir=str(out), max_steps=STEPS, per_device_train_batch_size=32, logging_steps=1,
        save_steps=6, save_strategy="steps", report_to=[], use_cpu=True, disable_tqdm=True,
        dataloader_num_workers=0, seed=0)
    return transformers.Trainer(model=model, args=args, train_dataset=dataset(),
                                optimizers=(opt, sched))


def logged(trainer: Any) -> dict[int, float]:
    return {e["step"]: e["learning_rate"] for e in trainer.state.log_history
            if "learning_rate" in e}


def test_trainer_runs_logs_and_resumes(tmp_path: Path) -> None:
    full = make_trainer(tmp_path / "full")
    full.train()
    lrs = logged(full)
    assert sorted(lrs) == list(range(1, STEPS + 1))
    # HF logs, for global step k, the lr the k-th update used: SCHEDULE(k - 1)
    for step, lr in lrs.items():
        assert lr == pytest.approx(SCHEDULE(step - 1), rel=1e-12, abs=1e-15)

    part = make_trainer(tmp_path / "part")
    part.args.max_steps = 6
    part.train()
    ckpt = tmp_path / "part" / "checkpoint-6"
    assert (ckpt / "scheduler.pt").exists()
    resumed = make_trainer(tmp_path / "part")
    resumed.train(resume_from_checkpoint=str(ckpt))
    again = logged(resumed)
    assert {k: again[k] for k in range(7, STEPS + 1)} == {k: lrs[k] for k in range(7, STEPS + 1)}
    for p, q in zip(full.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("hf_name", "shape"), [
    ("get_cosine_schedule_with_warmup",
     lambda w, n: lrkit.warmup(lrkit.cosine(1.0, steps=n), warmup_steps=w)),
    ("get_linear_schedule_with_warmup",
     lambda w, n: lrkit.warmup(lrkit.linear(1.0, end=0.0, steps=n), warmup_steps=w)),
])
@pytest.mark.parametrize(("warm", "total"), [(100, 3000), (7, 500), (0, 2000)])
def test_relative_shapes_equal_hugging_faces_schedulers(hf_name: str, shape: Any, warm: int,
                                                        total: int) -> None:
    """Per group, ``Scheduler(opt, shape, relative=True)`` is HF's LambdaLR, step by step."""

    def two_groups() -> torch.optim.AdamW:
        return torch.optim.AdamW([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1e-5},
                                  {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1e-3}])

    s = shape(warm, total) if warm else (lrkit.cosine(1.0, steps=total) if "cosine" in hf_name
                                         else lrkit.linear(1.0, end=0.0, steps=total))
    hf_opt, ours_opt = two_groups(), two_groups()
    hf = getattr(transformers, hf_name)(hf_opt, warm, total)
    ours = Scheduler(ours_opt, s, relative=True)
    for _ in range(total + 1):  # (past total, HF's cosine climbs back up; lrkit's holds 0)
        for a, b in zip(hf_opt.param_groups, ours_opt.param_groups):
            # (HF's 0.5 * (1 + cos(pi * p)) cancels near the end: abs 1e-14 of the rate)
            assert b["lr"] == pytest.approx(a["lr"], rel=1e-12, abs=1e-14 * a["initial_lr"])
        hf_opt.step()
        hf.step()
        ours.step()
