"""``lrkit tune``: search schedule shapes and the peak with Optuna, on one or many workers."""

from __future__ import annotations

import shlex
import sys

import click

from ..experiment import recipe
from ..experiment.families import FAMILIES, FAMILY
from . import main
from .experiment import _Bars, _optim_options, _task_options

_FAMILIES = "; ".join(f"{name}: {fam.describe()}" for name, fam in FAMILIES.items())


@main.command("tune")
@_task_options
@click.option("--family", default=FAMILY, show_default=True,
              help=f"the schedule family searched ({', '.join(FAMILIES)})")
@click.option("--trials", type=int, default=recipe.TRIALS, show_default=True,
              help="COMPLETE trials the study should hold (shared by all workers)")
@click.option("--batch", type=int, default=None, metavar="K",
              help=f"trials trained together as one batched model (K x seeds runs)  "
                   f"[default: {recipe.CHUNK} // seeds]")
@click.option("--jobs", "-j", type=int, default=1, show_default=True,
              help="batched models trained at once, on threads (one torch thread each)")
@click.option("--warm-start/--no-warm-start", default=True, show_default=True,
              help="a new search starts from the default compare shapes the family holds, "
                   "at the range test's suggestion x 1/2, 1, 2")
@click.option("--peaks", default="auto", show_default=True,
              help="the peak's log range: auto (the range test's suggestion /16 .. x16) or "
                   "LO,HI")
@click.option("--epochs", type=int, default=None,
              help=f"training length in epochs  [default: {recipe.EPOCHS} or the task's]")
@click.option("--steps", type=int, default=None, help="training length in optimizer steps")
@click.option("--eval-every", type=int, default=None, metavar="K",
              help="evaluate every K optimizer steps  [default: every epoch or the task's]")
@click.option("--seeds", default=None,
              help=f"a count or a list like 0,4,7 (every trial on the same seeds)  "
                   f"[default: {recipe.SEEDS} or the task's]")
@_optim_options
@click.option("--storage", default=None,
              help="postgresql://USER:PW@HOST/DB, journal:///shared/file.log or "
                   "sqlite:///file.db  [default: sqlite:///<out>/lrkit.db]")
@click.option("--study", default=None,
              help="the Optuna study  [default: derived from the task, family and settings]")
@click.option("--seed", type=int, default=0, show_default=True, help="the TPE sampler's seed")
@click.option("--heartbeat", type=int, default=recipe.HEARTBEAT, show_default=True,
              help="seconds between heartbeats of a claimed trial (RDB storage)")
@click.option("--grace", type=int, default=None,
              help="seconds without a heartbeat after which another worker retries a trial  "
                   "[default: 3 x heartbeat]")
@click.option("--out", "-o", default=None,
              help="directory for results.json and tune.png (the default storage lives "
                   f"there too)  [default: none, storage in {recipe.OUT}]")
@click.option("--json", "as_json", is_flag=True, help="print results.json to stdout")
def tune_cmd(task: str | None, data: str | None, target: str | None, batch_size: int | None,
             device: str | None, quiet: bool, family: str, trials: int, batch: int | None,
             jobs: int, warm_start: bool, peaks: str, epochs: int | None, steps: int | None,
             eval_every: int | None,
             seeds: str | None, optimizer: str | None, momentum: float | None,
             nesterov: bool | None, weight_decay: float | None,
             betas: tuple[float, float] | None, eps: float | None, grad_clip: float | None,
             storage: str | None, study: str | None, seed: int, heartbeat: int,
             grace: int | None, out: str | None, as_json: bool) -> None:
    """Search schedule shapes and the peak with Optuna (TPE), batched.

    Each trial is one schedule of the family, trained on every seed; K trials
    train together as one batched model. Start the same command on any number
    of machines with one --storage and --study: they share the search, no trial
    is trained twice, and a killed worker's trials go to another after --grace.
    Run it again to resume. Prints the best schedule as a spec (rerun it with
    lrkit compare "SPEC" --peaks spec) and the best trials.

    \b
    lrkit tune --task digits-mlp --trials 40 --out tune-out
    lrkit tune --task mnist1d --steps 600 --family cosine --trials 60
    lrkit tune --storage postgresql://lrkit:PW@db/lrkit --study s1 --trials 200
    lrkit tune --storage journal:///shared/tune.log --study s1 --trials 100
    """
    from ..experiment.compare import Options
    from ..experiment.tune import TuneOptions, prepare, run_tune, top_table

    training = Options(
        task=task, data=data, target=target, epochs=epochs, steps=steps, seeds=seeds,
        batch_size=batch_size, optimizer=optimizer, momentum=momentum, nesterov=nesterov,
        weight_decay=weight_decay, betas=betas, eps=eps, grad_clip=grad_clip,
        eval_every=eval_every, device=device)
    opts = TuneOptions(
        training=training, family=family, trials=trials, batch=batch, peaks=peaks, jobs=jobs,
        warm_start=warm_start,
        storage=storage, study=study, out=out or recipe.OUT, seed=seed, heartbeat=heartbeat,
        grace=grace,
        command=" ".join(["lrkit", *(shlex.quote(a) for a in sys.argv[1:])])
        if len(sys.argv) > 1 and sys.argv[1] == "tune" else None,
    )
    search = prepare(opts)  # bad input fails here, before any progress bar
    with _Bars(quiet) as bars:
        result = run_tune(search, bars)
    from ..experiment import tune_report as rep

    paths = rep.write_results(result, out) if out is not None else None
    if as_json:
        click.echo(rep.to_json(result), nl=False)
    if quiet:
        return
    from rich.table import Table

    header, rows = top_table(result)
    table = Table(title=f"lrkit tune: study {result.study}, {len(result.trials)} trials, "
                        f"family {result.family.name}", title_justify="left")
    for h in header:
        table.add_column(h, overflow="fold")
    for r in rows:
        table.add_row(*r)
    bars.console.print(table)
    for line in rep.summary_lines(result):
        bars.note(line)
    bars.note(f"this worker trained {len(result.trained_here)} trials in "
              f"{result.seconds:.1f} s" + (f"; wrote {paths['json']}, {paths['png']}"
                                           if paths else ""))
