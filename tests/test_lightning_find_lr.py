"""``lrkit.lightning.FindLR``: the range test on a real Lightning Trainer, the same result
as ``lrkit.find_lr``, the training afterwards unchanged (or at the suggestion with attr=)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import lrkit
from lrkit.experiment.lr_find import analyse
from lrkit.torch import Scheduler
from test_lightning import import_hiding_broken_torchvision, loaders, one_torch_thread  # noqa: F401 (autouse)

pytestmark = pytest.mark.filterwarnings("ignore")  # (see test_lightning)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    pl = import_hiding_broken_torchvision("lightning.pytorch")
    from lrkit.lightning import FindLR

STEPS = 30


class Net(pl.LightningModule):  # type: ignore[misc]
    def __init__(self, lr: float = 0.05, dropout: float = 0.0) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                       torch.nn.Dropout(dropout), torch.nn.Linear(32, 10))
        self.used: list[float] = []

    def training_step(self, batch: Any, _: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss)  # muted during the sweep (Lightning would refuse it)
        self.used.append(self.optimizers().param_groups[0]["lr"])
        return loss

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=1.0, momentum=0.9)
        sched = Scheduler(opt, lrkit.cosine(self.hparams.lr, steps=12))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def trainer(tmp: Path, callbacks: list[Any], epochs: int = 2) -> Any:
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, num_sanity_val_steps=0,
                      default_root_dir=tmp, callbacks=callbacks)


def shuffled() -> Any:
    train, _ = loaders()
    return torch.utils.data.DataLoader(train.dataset, batch_size=64, shuffle=True)


def test_same_result_as_find_lr_and_the_figure(tmp_path: Path) -> None:
    train, _ = loaders()
    torch.manual_seed(0)
    model = Net()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    finder = FindLR(steps=STEPS, end=1.0, plot=tmp_path / "lr_find.png")

    class Snapshot(pl.Callback):  # type: ignore[misc]
        def on_train_start(self, trainer: Any, pl_module: Any) -> None:  # after FindLR's
            self.state = {k: v.clone() for k, v in pl_module.state_dict().items()}
            self.opt = trainer.optimizers[0].state_dict()

    snap = Snapshot()
    trainer(tmp_path, [finder, snap], epochs=1).fit(model, train)
    r = finder.result
    assert r is not None and finder.suggestion == r.suggestion
    assert (tmp_path / "lr_find.png").stat().st_size > 10_000

    # lrkit.find_lr on the same weights, optimizer and batches: the very same sweep
    torch.manual_seed(0)
    twin = Net()
    twin.load_state_dict(start)
    opt = torch.optim.SGD(twin.parameters(), lr=1.0, momentum=0.9)
    direct = lrkit.find_lr(twin.net, opt, torch.nn.functional.cross_entropy, train,
                           steps=STEPS, end=1.0)
    np.testing.assert_array_equal(r.lrs, direct.lrs)
    np.testing.assert_array_equal(r.losses, direct.losses)
    assert r.suggestions == direct.suggestions
    again = analyse(r.lrs, r.losses, planned=STEPS)  # the shared rule
    assert again.suggestions == r.suggestions
    for k, v in snap.state.items():  # restored before the training starts
        assert torch.equal(v, start[k]), k
    assert snap.opt["state"] == {}  # no momentum left from the sweep
    assert snap.opt["param_groups"][0]["lr"] == 0.05


def test_the_training_afterwards_is_the_one_without_it(tmp_path: Path) -> None:
    """Shuffled batches and dropout: the random streams are restored too."""
    runs = []
    for callbacks in ([], [FindLR(steps=STEPS)]):
        pl.seed_everything(3)
        model = Net(dropout=0.3)
        trainer(tmp_path, callbacks).fit(model, shuffled())
        runs.append((model, model.used[-12:]))
    (plain, lrs_plain), (tested, lrs_tested) = runs
    assert len(tested.used) == len(plain.used) + STEPS  # the sweep's steps, then the same run
    assert lrs_tested == lrs_plain == [lrkit.cosine(0.05, steps=12)(t) for t in range(12)]
    for p, q in zip(plain.parameters(), tested.parameters()):
        assert torch.equal(p, q)


def test_attr_trains_at_the_suggestion(tmp_path: Path) -> None:
    train, _ = loaders()
    torch.manual_seed(0)
    model = Net()
    finder = FindLR(steps=STEPS, end=1.0, attr="lr")
    t = trainer(tmp_path, [finder], epochs=1)
    t.fit(model, train)
    peak = finder.suggestion
    assert model.hparams.lr == peak and 1e-6 < peak < 1.0
    assert model.used[STEPS:] == [lrkit.cosine(peak, steps=12)(k) for k in range(6)]
    assert t.lr_scheduler_configs[0].scheduler.last_epoch == 6


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        FindLR(steps=1)
    train, _ = loaders()

    class Manual(Net):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False

    with pytest.raises(ValueError, match="needs automatic optimization"):
        trainer(tmp_path, [FindLR(steps=STEPS)]).fit(Manual(), train)
    with pytest.raises(ValueError, match="attr='peak' is neither an attribute of Net"):
        trainer(tmp_path, [FindLR(steps=STEPS, attr="peak")]).fit(Net(), train)
