"""``lrkit compare`` and ``lrkit find-lr``: train real models under schedules.

The options are defined from :mod:`lrkit.experiment.recipe` alone (a leaf); the rest of
the experiment package, and torch, optuna, rich and matplotlib, are imported inside the
commands, so ``lrkit compare --help`` starts as fast as ``lrkit --help``
(``benchmarks/bench_startup.py``).
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import click

from ..experiment import recipe
from . import Interrupted, main

if TYPE_CHECKING:
    from ..experiment.compare import Options

_TASK_HELP = ("built-in task (digits-mlp, digits-cnn, teacher-student, noisy-quadratic, mnist1d, "
              "tiny-lm) or package.module:factory  [default: "f"{recipe.TASK}]")
_TASKS = " or the task's"
_METHODS = recipe.SUGGESTIONS

#: ``lrkit compare``'s exit status when it names no winner: every run diverged, or the
#: best runs are no better than the untrained model or a trivial predictor (verdict)
NO_WINNER_EXIT = 3
#: the range test's figure: compare's (in --out, beside compare.png) and find-lr's, apart
COMPARE_RANGE_TEST_PNG = "range_test.png"
FIND_LR_PNG = "find_lr.png"


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
        return self  # the bars start with the first phase: an early error prints alone

    def __exit__(self, kind: Any, *exc: Any) -> None:
        if self.bars is not None and self.bars.live.is_started:
            if kind is None:
                self._finish()
            self.bars.stop()

    def _finish(self) -> None:
        """Every phase so far is over: its bar shows its total (a range test that stopped
        at divergence, float run fractions that sum to 174.99999 of 175)."""
        for task in self.bars.tasks:
            self.bars.update(task.id, completed=task.total)

    def phase(self, name: str, total: int) -> Callable[[float], None]:
        if self.bars is None or total <= 0:
            return lambda n: None
        self._finish()
        self.bars.start()
        task = self.bars.add_task(name, total=total)
        return lambda n: self.bars.advance(task, n)

    def note(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False, soft_wrap=True)


@main.command("compare")
@click.argument("specs", nargs=-1, metavar="[SCHEDULE]...")
@click.option("--schedules", "-s", multiple=True, metavar="SPEC",
              help=f"a default name ({', '.join(recipe.DEFAULT_SHAPES)}), a baseline optimizer "
                   f"at a constant rate ({', '.join(recipe.BASELINES)}), a spec (N = total "
                   "steps, P = the peak), a schedule file, or label=SPEC; repeat it or list them "
                   f"after it  [default: all {len(recipe.DEFAULT_SHAPES)} default schedules]")
@_task_options
@click.option("--epochs", type=int, default=None,
              help=f"training length in epochs  [default: {recipe.EPOCHS}{_TASKS}]")
@click.option("--steps", type=int, default=None, help="training length in optimizer steps")
@click.option("--eval-every", type=int, default=None, metavar="K",
              help=f"evaluate every K optimizer steps  [default: every epoch{_TASKS}]")
@click.option("--seeds", default=None,
              help=f"a count ({recipe.SEEDS} = seeds 0..{recipe.SEEDS - 1}) or a list like 0,4,7"
                   f"  [default: {recipe.SEEDS}{_TASKS}]")
@click.option("--peaks", default=recipe.PEAKS, show_default=True,
              help=f"auto (range-test suggestion x {recipe.auto_factors_text()}, extended by "
                   f"x{recipe.EXTEND_FACTOR:g} up to {recipe.times(recipe.MAX_EXTEND)} while a "
                   "schedule's best peak is at an edge), auto:F1,F2,.. , peaks like 0.01,0.1, "
                   "or spec (run each schedule as written)")
@click.option("--method", type=click.Choice(_METHODS), default=None,
              help="the range test's suggestion rule (with --peaks auto)  "
                   f"[default: {recipe.RANGE_TEST['suggestion']}]")
@_optim_options
@click.option("--jobs", "-j", type=int, default=recipe.JOBS, show_default=True,
              help="worker processes (one torch thread each)")
@click.option("--chunk-size", type=int, default=recipe.CHUNK, show_default=True,
              help="runs trained together as one batched model")
@click.option("--out", "-o", default=recipe.OUT, show_default=True,
              help="directory for compare.png, results.json, report.html")
@click.option("--storage", default=None,
              help="sqlite:///PATH.db, or shared by many workers: postgresql://USER:PW@HOST/DB "
                   "or journal:///ABS/PATH.log  [default: sqlite:///<out>/lrkit.db]")
@click.option("--study", default=None,
              help=f"Optuna study name  [default: {recipe.STUDY}; with a shared --storage: "
                   "lrkit-TASK-HASH of the grid]")
@click.option("--no-train", is_flag=True,
              help="with a shared --storage: plan and enqueue the grid, leave the training "
                   "to lrkit worker")
@click.option("--lease", type=float, default=recipe.LEASE, show_default=True, metavar="SECONDS",
              help="with a shared --storage: a claimed chunk without a heartbeat for this "
                   "long is given to another worker")
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
                eval_every: int | None, seeds: str | None, peaks: str, method: str | None,
                optimizer: str | None,
                momentum: float | None, nesterov: bool | None, weight_decay: float | None,
                betas: tuple[float, float] | None, eps: float | None, grad_clip: float | None,
                jobs: int, chunk_size: int, out: str, storage: str | None, study: str | None,
                no_train: bool, lease: float, target_acc: float | None,
                target_loss: float | None, as_json: bool, predict: bool, top_k: int) -> None:
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

    from ..experiment.compare import Options, run_compare
    from ..experiment.queue import check_lease

    t0 = time.perf_counter()
    check_lease(lease)
    _cwd_importable()
    opts = Options(
        task=task, data=data, target=target, schedules=[*schedules, *specs], epochs=epochs,
        steps=steps, seeds=seeds, peaks=peaks, method=method, batch_size=batch_size,
        optimizer=optimizer,
        momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, betas=betas, eps=eps,
        grad_clip=grad_clip, eval_every=eval_every, device=device, jobs=jobs,
        chunk_size=chunk_size,
        out=out, storage=storage, study=study,
        target_acc=target_acc, target_loss=target_loss,
        command=" ".join(["lrkit", *(shlex.quote(a) for a in sys.argv[1:])])
        if len(sys.argv) > 1 and sys.argv[1] == "compare" else None,
    )
    from ..experiment.storage import kind

    shared = storage is not None and kind(storage) != "sqlite"
    if predict:
        if shared:
            raise click.UsageError("--predict trains on one machine: give an SQLite --storage "
                                   "(or none)")
        from .predict import compare_predict

        return compare_predict(opts, top_k, quiet, as_json, _Bars(quiet), t0)
    if shared:
        _distributed(opts, quiet, as_json, no_train, lease, t0)
        return
    if no_train:
        raise click.UsageError("--no-train needs a shared --storage (postgresql:// or "
                               "journal:///); with SQLite the comparison runs here")
    try:
        with _Bars(quiet) as bars:
            result = run_compare(opts, bars)
    except KeyboardInterrupt:
        raise Interrupted(_kept(opts)) from None
    write_outputs(result, out, quiet, as_json, bars, t0)


def _distributed(opts: Options, quiet: bool, as_json: bool, no_train: bool, lease: float,
                 t0: float) -> None:
    """``compare --storage postgresql://...|journal:///...``: plan, enqueue, work, report."""
    from ..experiment.distributed import Comparison
    from ..experiment.storage import shown_url

    if opts.jobs != 1:
        raise click.UsageError("--jobs with a shared --storage: start one lrkit worker per "
                               "core instead")
    import torch

    torch.set_num_threads(1)
    with _Bars(quiet) as bars:
        comp = Comparison.start(opts, lease)
        where = shown_url(comp.url)
        bars.note(f"comparison {comp.study!r} in {where}; more workers: lrkit worker "
                  f"--storage {where} --study {comp.study}")
        if no_train:
            return
        comp.work(bars)
        result = comp.result(opts.command)
    write_outputs(result, opts.out, quiet, as_json, bars, t0)


def write_outputs(result: Any, out: str, quiet: bool, as_json: bool, bars: _Bars,
                  t0: float) -> None:
    """Write compare.png, results.json, report.html (and range_test.png) into ``out``; print
    the table and the verdict unless ``quiet``; exit 3 (``NO_WINNER_EXIT``) when a complete
    comparison names no winner."""
    from ..experiment import report as rep

    lf_png = None
    t_report = time.perf_counter()
    report = result.to_dict()
    os.makedirs(out, exist_ok=True)
    if result.lr_find is not None:
        from ..experiment.lr_find import plot_lr_find

        lf_png = os.path.join(out, COMPARE_RANGE_TEST_PNG)
        plot_lr_find(result.lr_find, lf_png)
    paths = rep.write_report(report, out, lf_png)
    timing: dict[str, float | int] = {**result.timing, "runs": result.runs,
                                      "report": time.perf_counter() - t_report}
    if as_json:
        click.echo(rep.to_json(report), nl=False)
    verdict = result.verdict
    if not quiet:
        rep.print_table(report, bars.console if as_json else None)
        if not result.complete:
            bars.note(f"under way: {result.missing} of {result.runs} planned runs not stored "
                      "yet (left out of the table)")
        else:
            lead = (f"winner: {verdict['winner']} at peak "
                    f"{rep.fmt_num(result.rows[0].best_peak)}"
                    if verdict.get("winner") else "no winner")
            bars.note(f"{lead}; {time.perf_counter() - t0:.1f} s ("
                      + ", ".join(f"{k} {v:.1f} s" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in timing.items()) + ")")
        bars.note(f"wrote {paths['png']}, {paths['json']}, {paths['html']}"
                  + (f", {lf_png}" if lf_png else ""))
    if result.complete and not verdict.get("winner"):
        click.echo(f"lrkit: {verdict.get('message', 'NO WINNER')}", err=True)
        raise click.exceptions.Exit(NO_WINNER_EXIT)


def _cwd_importable() -> None:
    """``--task mytask:factory`` finds ``mytask.py`` in the current folder, as ``python -m``
    does (the ``lrkit`` script's own folder is first on ``sys.path`` instead)."""
    here = os.getcwd()
    if "" not in sys.path and here not in sys.path:
        sys.path.insert(0, here)


def _kept(opts: Options) -> str:
    """What an interrupted comparison leaves: how many finished runs the study holds."""
    from ..experiment.compare import default_storage
    from ..experiment.store import Store

    url = opts.storage or default_storage(opts.out)
    if opts.storage is None and not os.path.exists(os.path.join(opts.out, "lrkit.db")):
        return "no run had finished, nothing is stored"
    study = opts.study or recipe.STUDY
    n = Store(url, study).count()
    return (f"{n} finished run{'s' if n != 1 else ''} stored in study {study!r} at {url}; "
            "run the same command again to resume")


@main.command("find-lr")
@_task_options
@click.option("--seeds", default=str(recipe.RANGE_TEST_SEEDS), show_default=True,
              help=f"a count ({recipe.RANGE_TEST_SEEDS} = seeds 0..{recipe.RANGE_TEST_SEEDS - 1})"
                   " or a list like 0,4,7")
@click.option("--start", type=float, default=recipe.RANGE_TEST["start"], show_default=True,
              help="first learning rate of the sweep")
@click.option("--end", type=float, default=recipe.RANGE_TEST["end"], show_default=True,
              help="last learning rate of the sweep")
@click.option("--steps", type=int, default=recipe.RANGE_TEST["steps"], show_default=True,
              help="number of sweep steps")
@click.option("--linear", is_flag=True, help="a linear sweep (default: exponential)")
@click.option("--method", type=click.Choice(_METHODS), default=recipe.RANGE_TEST["suggestion"],
              show_default=True, help="which suggestion to print")
@_optim_options
@click.option("--out", "-o", default=recipe.OUT, show_default=True,
              help=f"directory for {FIND_LR_PNG}")
def find_lr_cmd(task: str | None, data: str | None, target: str | None,
                batch_size: int | None, device: str | None, quiet: bool, seeds: str,
                start: float, end: float, steps: int, linear: bool,
                method: str, optimizer: str | None, momentum: float | None,
                nesterov: bool | None, weight_decay: float | None,
                betas: tuple[float, float] | None, eps: float | None, grad_clip: float | None,
                out: str) -> None:
    """Find a good learning rate with the range test.

    Sweep the learning rate up while training, smooth the loss, stop when it
    diverges, print the suggested learning rate (alone, on stdout) and write
    find_lr.png with every suggestion marked. The same range test (steps,
    sweep, smoothing, rule) as compare's --peaks auto.

    \b
    lrkit find-lr
    lrkit find-lr --data table.csv --target label --start 1e-5 --end 1
    """

    from ..experiment.grid import parse_seeds
    from ..experiment.options import check_find_lr, check_nesterov
    from ..experiment.progress import steps_progress
    from ..experiment.runner import TaskRef

    _cwd_importable()
    seed_list = parse_seeds(seeds)  # every option alone first, before a task is loaded
    check_find_lr(SimpleNamespace(start=start, end=end, steps=steps, batch_size=batch_size,
                                  momentum=momentum, weight_decay=weight_decay, eps=eps,
                                  grad_clip=grad_clip, betas=betas, out=out))
    ref = TaskRef.of(task, data, target)
    # the options given, else the task's recipe (betas, eps, clipping and the device reach
    # the trainer through the recipe)
    loaded = ref.load()
    for k, v in (("betas", betas), ("eps", eps), ("grad_clip", grad_clip), ("device", device)):
        loaded.setting(k, v)  # a Keras task refuses the optimizer options it does not use
    the_task = loaded.with_recipe(betas=betas, eps=eps, grad_clip=grad_clip, device=device)
    from ..experiment.lr_find import find_lr_task, plot_lr_find
    from ..experiment.trainer import check_optimizer

    given = {"batch_size": batch_size, "optimizer": optimizer, "momentum": momentum,
             "nesterov": nesterov, "weight_decay": weight_decay}
    st = {k: the_task.setting(k, v) for k, v in given.items()}
    check_optimizer(st["optimizer"], st["momentum"], st["weight_decay"],
                    the_task.setting("betas"), the_task.setting("eps"),
                    the_task.setting("grad_clip"))
    check_nesterov(nesterov, st["optimizer"], st["momentum"])
    kw: dict[str, Any] = {"seeds": seed_list, "suggestion": method,
                          "mode": "linear" if linear else "exp", **st}
    for k, v in (("start", start), ("end", end), ("steps", steps)):
        if v is not None:
            kw[k] = v
    import torch

    torch.set_num_threads(1)  # small models: more threads only spin
    with _Bars(quiet) as bars:
        if getattr(the_task, "framework", "torch") == "keras":  # lrkit.keras.find_lr
            from ..experiment.keras_task import range_test

            res = range_test(the_task, seed_list[0], st["batch_size"], suggestion=method,
                             mode=kw["mode"], **{k: kw[k] for k in ("start", "end", "steps")
                                                  if k in kw})
        else:
            kw["progress"] = steps_progress(bars, "range test")
            res = find_lr_task(the_task, **kw)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, FIND_LR_PNG)
    plot_lr_find(res, path)
    click.echo(f"{res.suggestion:.4g}")
    others = ", ".join(f"{k} {v:.3g}" for k, v in res.suggestions.items() if k != method)
    bars.note(f"suggested learning rate for {the_task.name}: {method} {res.suggestion:.4g} "
              f"(also {others}){'; the sweep stopped at divergence' if res.diverged else ''}; "
              f"wrote {path}")
