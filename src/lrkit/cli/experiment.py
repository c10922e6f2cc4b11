"""``lrkit compare`` and ``lrkit find-lr``: train real models under schedules.

torch, optuna, rich and matplotlib are imported inside the commands, so
``lrkit --help`` stays fast.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from typing import Any

import click

# light: numpy and lrkit only (torch, optuna, rich, matplotlib load when a command runs)
from ..experiment import recipe
from ..experiment.compare import Options, run_compare
from ..experiment.grid import parse_seeds
from ..experiment.progress import steps_progress
from ..experiment.runner import TaskRef
from . import main

_TASK_HELP = ("built-in task (digits-mlp, digits-cnn, teacher-student, noisy-quadratic, mnist1d, "
              "tiny-lm) or package.module:factory  [default: "f"{recipe.TASK}]")
_TASKS = " or the task's"


def _betas(ctx: Any, param: Any, value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        b1, b2 = (float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"give two numbers like 0.9,0.95, got {value!r}") from None
    return b1, b2


def _task_options(f: Any) -> Any:
    for opt in reversed([
        click.option("--task", default=None, metavar="NAME", help=_TASK_HELP),
        click.option("--data", default=None, metavar="FILE",
                     help="a .csv/.npz/.parquet table to train an MLP on (with --target)"),
        click.option("--target", default=None, metavar="COL", help="the target column of --data"),
        click.option("--batch-size", default=None, type=int,
                     help=f"[default: {recipe.BATCH_SIZE}{_TASKS}]"),
        click.option("--device", default=None, metavar="DEV",
                     help=f"where to train: cpu, cuda, cuda:N  [default: {recipe.DEVICE}]"),
        click.option("--quiet", "-q", is_flag=True, help="no progress bars or table"),
    ]):
        f = opt(f)
    return f


def _optim_options(f: Any) -> Any:
    for opt in reversed([
        click.option("--optimizer", type=click.Choice(recipe.OPTIMIZERS), default=None,
                     help=f"[default: {recipe.OPTIMIZER}{_TASKS}]"),
        click.option("--momentum", type=float, default=None,
                     help=f"SGD momentum (Adam's beta1 unless --betas)  "
                          f"[default: {recipe.MOMENTUM}{_TASKS}]"),
        click.option("--nesterov/--no-nesterov", default=None,
                     help=f"Nesterov momentum  [default: no{_TASKS}]"),
        click.option("--weight-decay", type=float, default=None,
                     help="L2 for sgd/adam; decoupled for adamw, on weight matrices only  "
                          f"[default: {recipe.WEIGHT_DECAY}{_TASKS}]"),
        click.option("--betas", default=None, metavar="B1,B2", callback=_betas,
                     help=f"Adam's betas  [default: MOMENTUM,0.999{_TASKS}]"),
        click.option("--eps", type=float, default=None,
                     help=f"Adam's epsilon  [default: {recipe.EPS:g}{_TASKS}]"),
        click.option("--grad-clip", type=float, default=None, metavar="NORM",
                     help=f"clip each run's global gradient norm  [default: none{_TASKS}]"),
    ]):
        f = opt(f)
    return f


class _Bars:
    """rich progress bars with ETA on stderr: the ``Progress`` that ``run_compare`` reports to."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.quiet = quiet
        self.bars: Any = None
        if not quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bars = Progress(
                TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                console=self.console, transient=False,
            )

    def __enter__(self) -> _Bars:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bars is not None:
            self.bars.stop()

    def phase(self, name: str, total: int) -> Callable[[float], None]:
        if self.bars is None or total <= 0:
            return lambda n: None
        task = self.bars.add_task(name, total=total)
        return lambda n: self.bars.advance(task, n)

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False, soft_wrap=True)


@main.command("compare")
@click.argument("specs", nargs=-1, metavar="[SCHEDULE]...")
@click.option("--schedules", "-s", multiple=True, metavar="SPEC",
              help=f"a default name ({', '.join(recipe.DEFAULT_SHAPES)}), a spec (N = total "
                   "steps, P = the peak), a schedule file, or label=SPEC; repeat it or list them "
                   f"after it  [default: all {len(recipe.DEFAULT_SHAPES)} defaults]")
@_task_options
@click.option("--epochs", type=int, default=None,
              help=f"training length in epochs  [default: {recipe.EPOCHS}{_TASKS}]")
@click.option("--steps", type=int, default=None, help="training length in optimizer steps")
@click.option("--eval-every", type=int, default=None, metavar="K",
              help=f"evaluate every K optimizer steps  [default: every epoch{_TASKS}]")
@click.option("--seeds", default=None,
              help=f"a count ({recipe.SEEDS} = seeds 0..{recipe.SEEDS - 1}) or a list like 0,4,7"
                   f"  [default: {recipe.SEEDS}{_TASKS}]")
@click.option("--peaks", default=Options.peaks, show_default=True,
              help=f"auto (range-test suggestion x {recipe.auto_factors_text()}, extended by "
                   f"x{recipe.EXTEND_FACTOR:g} up to {recipe.times(recipe.MAX_EXTEND)} while a "
                   "schedule's best peak is at an edge), auto:F1,F2,.. , peaks like 0.01,0.1, "
                   "or spec (run each schedule as written)")
@_optim_options
@click.option("--jobs", "-j", type=int, default=Options.jobs, show_default=True,
              help="worker processes (one torch thread each)")
@click.option("--chunk-size", type=int, default=Options.chunk_size, show_default=True,
              help="runs trained together as one batched model")
@click.option("--out", "-o", default=Options.out, show_default=True,
              help="directory for compare.png, results.json, report.html")
@click.option("--storage", default=None,
              help="Optuna storage URL  [default: sqlite:///<out>/lrkit.db]")
@click.option("--study", default=Options.study, show_default=True, help="Optuna study name")
@click.option("--target-acc", type=float, default=None,
              help="steps to reach this validation accuracy  "
                   f"[default: {recipe.TARGET_ACC:g} for classifiers]")
@click.option("--target-loss", type=float, default=None,
              help="steps to reach this validation loss")
@click.option("--json", "as_json", is_flag=True, help="print results.json to stdout")
@click.option("--predict", "predict", is_flag=True,
              help="experimental: train only constant and cosine at every peak, predict the "
                   "other schedules with a fitted loss law, train the best --top-k of them; "
                   "writes predict.png, predict.json (see docs/predict.md). "
                   + recipe.PREDICT_ACCURACY)
@click.option("--top-k", type=int, default=recipe.PREDICT_TOP_K, show_default=True,
              help="with --predict: how many predicted-best schedules to train")
def compare_cmd(specs: tuple[str, ...], schedules: tuple[str, ...], task: str | None,
                data: str | None, target: str | None, batch_size: int | None,
                device: str | None, quiet: bool, epochs: int | None, steps: int | None,
                eval_every: int | None, seeds: str | None, peaks: str, optimizer: str | None,
                momentum: float | None, nesterov: bool | None, weight_decay: float | None,
                betas: tuple[float, float] | None, eps: float | None, grad_clip: float | None,
                jobs: int, chunk_size: int, out: str, storage: str | None, study: str,
                target_acc: float | None, target_loss: float | None, as_json: bool,
                predict: bool, top_k: int) -> None:
    """Train a task under several schedules, fairly, and rank them.

    Every schedule is a shape over the N training steps, rescaled to each peak
    learning rate tried; all get the same peaks and seeds and are reported at
    their best peak. Finished runs are stored in an Optuna study at once: run
    the same command again to resume. Writes compare.png, results.json and a
    self-contained report.html into --out.

    \b
    lrkit compare
    lrkit compare -s cosine -s "fast=cosine(init=1, steps=N/2)" --epochs 10
    lrkit compare --data table.csv --target label --peaks 0.01,0.1
    """

    t0 = time.perf_counter()
    opts = Options(
        task=task, data=data, target=target, schedules=[*schedules, *specs], epochs=epochs,
        steps=steps, seeds=seeds, peaks=peaks, batch_size=batch_size, optimizer=optimizer,
        momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, betas=betas, eps=eps,
        grad_clip=grad_clip, eval_every=eval_every, device=device, jobs=jobs,
        chunk_size=chunk_size,
        out=out, storage=storage, study=study,
        target_acc=target_acc, target_loss=target_loss,
        command=" ".join(["lrkit", *(shlex.quote(a) for a in sys.argv[1:])])
        if len(sys.argv) > 1 and sys.argv[1] == "compare" else None,
    )
    if predict:
        from .predict import compare_predict

        return compare_predict(opts, top_k, quiet, as_json, _Bars(quiet), t0)
    with _Bars(quiet) as bars:
        result = run_compare(opts, bars)
    from ..experiment import report as rep

    lf_png = None
    t_report = time.perf_counter()
    report = result.to_dict()
    os.makedirs(out, exist_ok=True)
    if result.lr_find is not None:
        from ..experiment.lr_find import plot_lr_find

        lf_png = os.path.join(out, "lr_find.png")
        plot_lr_find(result.lr_find, lf_png)
    paths = rep.write_report(report, out, lf_png)
    timing: dict[str, float | int] = {**result.timing, "runs": result.runs,
                                      "report": time.perf_counter() - t_report}
    if as_json:
        click.echo(rep.to_json(report), nl=False)
    if not quiet:
        rep.print_table(report, bars.console if as_json else None)
        winner = result.rows[0]
        bars.note(f"winner: {winner.label} at peak {rep.fmt_num(winner.best_peak)}; "
                  f"{time.perf_counter() - t0:.1f} s ("
                  + ", ".join(f"{k} {v:.1f} s" if isinstance(v, float) else f"{k} {v}"
                              for k, v in timing.items()) + ")")
        bars.note(f"wrote {paths['png']}, {paths['json']}, {paths['html']}"
                  + (f", {lf_png}" if lf_png else ""))


@main.command("find-lr")
@_task_options
@click.option("--seeds", default=str(recipe.RANGE_TEST_SEEDS), show_default=True,
              help=f"a count ({recipe.RANGE_TEST_SEEDS} = seeds 0..{recipe.RANGE_TEST_SEEDS - 1})"
                   " or a list like 0,4,7")
@click.option("--start", type=float, default=None, help="first learning rate of the sweep")
@click.option("--end", type=float, default=None, help="last learning rate of the sweep")
@click.option("--steps", type=int, default=None, help="number of sweep steps")
@click.option("--linear", is_flag=True, help="a linear sweep (default: exponential)")
@click.option("--method", type=click.Choice(["valley", "steep", "minimum"]), default="valley",
              show_default=True, help="which suggestion to print")
@_optim_options
@click.option("--out", "-o", default=Options.out, show_default=True,
              help="directory for lr_find.png")
def find_lr_cmd(task: str | None, data: str | None, target: str | None,
                batch_size: int | None, device: str | None, quiet: bool, seeds: str,
                start: float | None, end: float | None, steps: int | None, linear: bool,
                method: str, optimizer: str | None, momentum: float | None,
                nesterov: bool | None, weight_decay: float | None,
                betas: tuple[float, float] | None, eps: float | None, grad_clip: float | None,
                out: str) -> None:
    """Find a good learning rate with the range test.

    Sweep the learning rate up while training, smooth the loss, stop when it
    diverges, print the suggested learning rate (alone, on stdout) and write
    lr_find.png with every suggestion marked.

    \b
    lrkit find-lr
    lrkit find-lr --data table.csv --target label --start 1e-5 --end 1
    """

    ref = TaskRef.of(task, data, target)
    seed_list = parse_seeds(seeds)
    # the options given, else the task's recipe (betas, eps, clipping and the device reach
    # the trainer through the recipe)
    the_task = ref.load().with_recipe(betas=betas, eps=eps, grad_clip=grad_clip, device=device)
    from ..experiment.lr_find import find_lr_task, plot_lr_find
    from ..experiment.trainer import check_optimizer

    given = {"batch_size": batch_size, "optimizer": optimizer, "momentum": momentum,
             "nesterov": nesterov, "weight_decay": weight_decay}
    st = {k: the_task.setting(k, v) for k, v in given.items()}
    check_optimizer(st["optimizer"], st["momentum"], st["weight_decay"],
                    the_task.setting("betas"), the_task.setting("eps"),
                    the_task.setting("grad_clip"))
    kw: dict[str, Any] = {"seeds": seed_list, "suggestion": method,
                          "mode": "linear" if linear else "exp", **st}
    for k, v in (("start", start), ("end", end), ("steps", steps)):
        if v is not None:
            kw[k] = v
    import torch

    torch.set_num_threads(1)  # small models: more threads only spin
    with _Bars(quiet) as bars:
        kw["progress"] = steps_progress(bars, "range test")
        res = find_lr_task(the_task, **kw)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "lr_find.png")
    plot_lr_find(res, path)
    click.echo(f"{res.suggestion:.4g}")
    others = ", ".join(f"{k} {v:.3g}" for k, v in res.suggestions.items() if k != method)
    bars.note(f"suggested learning rate for {the_task.name}: {method} {res.suggestion:.4g} "
              f"(also {others}){'; the sweep stopped at divergence' if res.diverged else ''}; "
              f"wrote {path}")
