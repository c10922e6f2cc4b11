"""The examples of docs/torch.md marked ``<!-- tested: name -->`` run as written, each in a
fresh namespace in a temporary folder, with a real Lightning Trainer and a real Hugging
Face Trainer; then what they promise is checked on what they left behind."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

import lrkit
from test_lightning import import_hiding_broken_torchvision, one_torch_thread  # noqa: F401 (autouse)

pytestmark = pytest.mark.filterwarnings("ignore")  # (see test_lightning)
DOC = Path(__file__).resolve().parent.parent / "docs" / "torch.md"
BLOCK = re.compile(r"<!-- tested: (\w+) -->\n```python\n(.*?)```", re.S)


def blocks() -> dict[str, str]:
    return dict(BLOCK.findall(DOC.read_text(encoding="utf-8")))


def run(name: str, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp)
    namespace: dict[str, Any] = {"__name__": f"docs_torch_{name}"}
    exec(compile(blocks()[name], f"docs/torch.md:{name}", "exec"), namespace)  # noqa: S102
    return namespace


def test_every_marked_block_is_tested_here() -> None:
    assert sorted(blocks()) == ["find_lr", "finetune", "hf", "lightning", "lightning_find_lr"]


def test_finetune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> None:
    ns = run("finetune", tmp_path, monkeypatch)
    assert capsys.readouterr().out.strip() == "[1e-05, 0.001]"
    shape, steps = ns["shape"], ns["steps"]
    assert ns["sched"].get_last_lr() == [r * shape.values([steps])[0] for r in (1e-5, 1e-3)]


def test_lightning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_hiding_broken_torchvision("lightning.pytorch")
    ns = run("lightning", tmp_path, monkeypatch)
    sched = ns["trainer"].lr_scheduler_configs[0].scheduler
    n = 2 * len(ns["loader"])
    assert sched.last_epoch == n
    shape = lrkit.warmup(lrkit.cosine(1.0, steps=n), warmup_steps=n // 10)
    assert sched.get_last_lr() == [r * shape.values([n])[0] for r in (1e-5, 1e-3)]


def test_hf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transformers = import_hiding_broken_torchvision("transformers")
    ns = run("hf", tmp_path, monkeypatch)
    logged = {e["step"]: e["learning_rate"] for e in ns["trainer"].state.log_history
              if "learning_rate" in e}
    assert sorted(logged) == [10, 20, 30, 40]
    shape = ns["shape"]
    for step, lr in logged.items():  # the first group's rate, for the step's update
        assert lr == pytest.approx(1e-5 * shape(step - 1), rel=1e-12)
    # the comment's claim: this is Hugging Face's own cosine with warm-up, per group
    opt = torch.optim.AdamW([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1e-5},
                             {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1e-3}])
    hf = transformers.get_cosine_schedule_with_warmup(opt, 4, ns["steps"])
    for t in range(ns["steps"] + 1):
        assert [g["lr"] for g in opt.param_groups] == pytest.approx(
            [1e-5 * shape(t), 1e-3 * shape(t)], rel=1e-12, abs=1e-18)
        opt.step()
        hf.step()
    assert ns["sched"].get_last_lr()[1] == pytest.approx(1e-3 * shape(ns["steps"]), abs=1e-18)


def test_find_lr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> None:
    ns = run("find_lr", tmp_path, monkeypatch)
    r = ns["r"]
    assert 1e-5 < r.suggestion < 1.0
    assert set(r.suggestions) == {"valley", "steep", "minimum", "fall"}
    assert str(r.suggestion) in capsys.readouterr().out
    assert (tmp_path / "lr_find.png").stat().st_size > 10_000
    assert ns["opt"].param_groups[0]["lr"] == 0.01  # restored


def test_lightning_find_lr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_hiding_broken_torchvision("lightning.pytorch")
    ns = run("lightning_find_lr", tmp_path, monkeypatch)
    finder, trainer = ns["finder"], ns["trainer"]
    peak = finder.suggestion
    assert 1e-5 < peak < 1.0 and finder.result is not None
    assert (tmp_path / "lr_find.png").stat().st_size > 10_000
    sched = trainer.lr_scheduler_configs[0].scheduler
    s = lrkit.warmup(lrkit.cosine(peak, steps=64), warmup_steps=4)
    assert sched.schedules() == {(0, "lr"): s}  # built again, at the suggestion
    assert sched.last_epoch == 4 * len(ns["loader"])


def test_lrkit_find_lr_is_the_range_test_and_loads_torch_only_when_used() -> None:
    import subprocess
    import sys

    code = ("import sys, lrkit; assert 'torch' not in sys.modules; f = lrkit.find_lr; "
            "from lrkit.experiment.lr_find import find_lr; assert f is find_lr; "
            "from lrkit import find_lr as g; assert g is f; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "ok"
