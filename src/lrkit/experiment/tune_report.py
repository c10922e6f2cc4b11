"""``lrkit tune``'s files: ``results.json`` and ``tune.png`` (rendering only).

``tune.png``: the learning rate of the best trials (left; recomputed from each
trial's spec, so it is the schedule that was trained) beside their validation
loss, the mean over seeds at every evaluation (right).
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..spec import parse
from .floats import float_array
from .tune import TuneResult

#: how many of the best trials ``tune.png`` draws
PLOT_TOP = 5


def write_results(result: TuneResult, out: str) -> dict[str, str]:
    """Write ``results.json`` and ``tune.png`` into ``out``; their paths."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "results.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(to_json(result))
    png = plot_tune(result, os.path.join(out, "tune.png"))
    return {"json": path, "png": png}


def plot_tune(result: TuneResult, path: str, top: int = PLOT_TOP) -> str:
    """``tune.png`` for the best ``top`` trials; see the module docstring."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = int(result.settings["steps"])
    fig, (ax_lr, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=110)
    cmap = matplotlib.colormaps["tab10"]
    for i, t in enumerate(result.trials[:top]):
        c = cmap(i % 10)
        label = f"{i + 1}. trial {t.number}: {t.value:.4f}"
        ax_lr.plot(np.arange(n), parse(t.spec).values(n), color=c, lw=1.6, label=label)
        curves = [float_array(v) for v in t.record.get("val_loss", []) if v is not None]
        steps = t.record.get("eval_steps")
        if curves and steps:
            mean = np.nanmean(np.vstack(curves), axis=0)
            ax_loss.plot(steps, mean, color=c, lw=1.6, marker="o", ms=2.5, label=label)
    ax_lr.set(title=f"learning rate (the best {min(top, len(result.trials))} trials)",
              xlabel="optimizer step", ylabel="learning rate")
    ax_loss.set(title=f"validation loss (mean over {len(result.seeds)} seeds)",
                xlabel="optimizer step", ylabel="validation loss", yscale="log")
    for ax in (ax_lr, ax_loss):
        ax.grid(alpha=0.3)
    ax_loss.legend(fontsize=8, loc="upper right", framealpha=0.9)
    fig.suptitle(f"lrkit tune \u2014 {result.task['name']}, family {result.family.name}, "
                 f"{len(result.trials)} trials", fontsize=12)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def summary_lines(result: TuneResult) -> list[str]:
    """The best schedule in words: spec, peak, score with its interval, how to rerun it."""
    if not result.trials:
        return ["no trial finished"]
    b = result.best
    score = "diverged" if b.value == float("inf") else f"{b.value:.4f}" + (
        f" \u00b1 {b.ci:.4f} (95% over {len(result.seeds)} seeds)" if b.ci is not None else "")
    return [f"best: trial {b.number}: {b.spec}",
            f"  peak {b.params['peak']:.4g}; final validation loss {score}",
            f"  rerun: {result.rerun()}"]


def to_json(result: TuneResult) -> str:
    """``results.json``'s text."""
    return json.dumps(result.to_dict(), indent=1, allow_nan=False) + "\n"
