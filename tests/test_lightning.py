"""A real Lightning Trainer with lrkit's Scheduler: trains, checkpoints, resumes, logs the lr."""

from __future__ import annotations

import csv
import importlib
import importlib.metadata as md
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lrkit
from lrkit.torch import Scheduler, plateau_callback


def import_hiding_broken_torchvision(name: str) -> Any:
    """Import ``name``; if a torchvision build that cannot load (a CUDA wheel next to CPU
    torch: "operator torchvision::nms does not exist") breaks it, hide torchvision and retry.

    lightning (through torchmetrics) and transformers import torchvision whenever its
    metadata is present; neither needs it here.
    """
    try:
        return importlib.import_module(name)
    except RuntimeError as e:
        if "torchvision" not in str(e):
            raise
    for mod in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "torchmetrics",
                                                               "lightning", "pytorch_lightning",
                                                               "transformers", "accelerate")]:
        del sys.modules[mod]
    from_name = md.Distribution.from_name.__func__  # type: ignore[attr-defined]

    def hidden_from_name(cls: type, dist: str) -> Any:
        if dist.lower().replace("_", "-") == "torchvision":
            raise md.PackageNotFoundError(dist)
        return from_name(cls, dist)

    find_spec = importlib.util.find_spec

    def hidden_find_spec(mod: str, package: str | None = None) -> Any:
        return None if mod.split(".")[0] == "torchvision" else find_spec(mod, package)

    md.Distribution.from_name = classmethod(hidden_from_name)  # type: ignore[method-assign,assignment]
    importlib.util.find_spec = hidden_find_spec
    sys.modules["torchvision"] = None  # type: ignore[assignment]
    return importlib.import_module(name)


# Lightning's warning classes must not reach pytest-xdist's controller process, which would
# import lightning (and the broken torchvision) to unpickle them.
pytestmark = pytest.mark.filterwarnings("ignore")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    pl = import_hiding_broken_torchvision("lightning.pytorch")
from sklearn.datasets import load_digits  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    """Tiny models train far faster on one thread when the cores are shared (xdist); the
    modules that import it from here use it too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


STEPS_PER_EPOCH = 6
EPOCHS = 4
BASE = lrkit.warmup(lrkit.cosine(0.2, steps=STEPS_PER_EPOCH * EPOCHS, end=0.01), warmup_steps=4)
# threshold=0.9 (rel): no validation loss can improve by 90%, so every validation after the
# first reduces the scale: the lr path is known in advance, whatever the losses are.
PLATEAU = lrkit.plateau(factor=0.5, patience=0, threshold=0.9)


def loaders() -> tuple[Any, Any]:
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x[:480] / 16.0, dtype=torch.float32)
    y = torch.tensor(y[:480])
    train = torch.utils.data.TensorDataset(x[:384], y[:384])
    val = torch.utils.data.TensorDataset(x[384:], y[384:])
    return (torch.utils.data.DataLoader(train, batch_size=64),
            torch.utils.data.DataLoader(val, batch_size=96))


class Digits(pl.LightningModule):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                       torch.nn.Linear(32, 10))
        self.seen: list[float] = []

    def training_step(self, batch: Any, _: int) -> torch.Tensor:
        x, y = batch
        self.seen.append(self.optimizers().param_groups[0]["lr"])
        return torch.nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch: Any, _: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.cross_entropy(self.net(x), y))

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=1.0, momentum=0.9)
        sched = Scheduler(opt, BASE * PLATEAU)
        return {"optimizer": opt,
                "lr_scheduler": {"scheduler": sched, "interval": "step", "monitor": "val_loss"}}


def trainer(tmp: Path, epochs: int, name: str) -> Any:
    return pl.Trainer(
        max_epochs=epochs, accelerator="cpu", devices=1, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
        logger=pl.loggers.CSVLogger(tmp, name=name),
        callbacks=[plateau_callback("val_loss"),
                   pl.callbacks.LearningRateMonitor(logging_interval="step"),
                   pl.callbacks.ModelCheckpoint(dirpath=tmp / name, save_last=True)],
        log_every_n_steps=1, deterministic=True)


def logged_lrs(t: Any) -> dict[int, float]:
    path = Path(t.logger.log_dir) / "metrics.csv"
    with open(path) as f:
        rows = [r for r in csv.DictReader(f) if r.get("lr-SGD")]
    return {int(r["step"]): float(r["lr-SGD"]) for r in rows}


def expected_lrs(n: int) -> list[float]:
    """Step k of epoch e (0-based) uses BASE(k) * 0.5**(e-1): the first validation sets the
    best, each later one reduces."""
    return [float(BASE.values([k])[0]) * 0.5 ** max(0, k // STEPS_PER_EPOCH - 1)
            for k in range(n)]


def test_trains_checkpoints_resumes_and_logs(tmp_path: Path) -> None:
    train, val = loaders()
    pl.seed_everything(0)
    full_model = Digits()
    full = trainer(tmp_path, EPOCHS, "full")
    full.fit(full_model, train, val)
    n = STEPS_PER_EPOCH * EPOCHS
    want = expected_lrs(n)
    assert full_model.seen == want  # the lrs the optimizer used, bit for bit
    logged = logged_lrs(full)
    assert [logged[k] for k in range(n)] == want  # LearningRateMonitor logged lrkit's lr
    assert full.lr_scheduler_configs[0].scheduler.last_epoch == n

    pl.seed_everything(0)
    first = trainer(tmp_path, 2, "part")
    first.fit(Digits(), train, val)
    ckpt = tmp_path / "part" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=True)["lr_schedulers"][0]
    assert saved["step"] == 2 * STEPS_PER_EPOCH and saved["plateau"][0]["state"]["reductions"] == 1

    resumed_model = Digits()
    resumed = trainer(tmp_path, EPOCHS, "part")
    resumed.fit(resumed_model, train, val, ckpt_path=str(ckpt))
    assert resumed_model.seen == want[2 * STEPS_PER_EPOCH:]
    for p, q in zip(full_model.parameters(), resumed_model.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_epoch_scheduler_with_lightning_own_plateau_path(tmp_path: Path) -> None:
    """``reduce_on_plateau=True`` + ``interval='epoch'``: Lightning itself calls step(metric)."""
    train, val = loaders()

    class PerEpoch(Digits):
        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=1.0)
            s = lrkit.step_decay(0.1, factor=0.5, every=2) * PLATEAU
            return {"optimizer": opt, "lr_scheduler": {
                "scheduler": Scheduler(opt, s, interval="epoch"), "interval": "epoch",
                "monitor": "val_loss", "reduce_on_plateau": True}}

    model = PerEpoch()
    t = pl.Trainer(max_epochs=3, accelerator="cpu", enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0,
                   logger=pl.loggers.CSVLogger(tmp_path), enable_checkpointing=False)
    t.fit(model, train, val)
    per_epoch = model.seen[::STEPS_PER_EPOCH]
    assert per_epoch == [0.1, 0.1, 0.05 * 0.5]
