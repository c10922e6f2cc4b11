"""``lrkit predict`` and ``lrkit compare --predict``'s output (experimental).

Both fit the Tissue et al. (2024) loss law on stored fitting runs and predict the
validation-loss curves of schedules without training them; see docs/predict.md.
"""

from __future__ import annotations

import os
from typing import Any

import click

from ..experiment import recipe
from . import main


def write(report: dict[str, Any], out: str, quiet: bool, as_json: bool,
          console: Any = None) -> tuple[str, str]:
    """Write predict.json and predict.png into ``out``; print the table unless ``quiet``."""
    from ..experiment import predict_report as pr

    os.makedirs(out, exist_ok=True)
    js, png = os.path.join(out, "predict.json"), os.path.join(out, "predict.png")
    with open(js, "w", encoding="utf-8") as f:
        f.write(pr.to_json(report))
    pr.plot_predict(report, png)
    if as_json:
        click.echo(pr.to_json(report), nl=False)
    if not quiet:
        if console is None and as_json:
            from rich.console import Console

            console = Console(stderr=True)
        pr.print_table(report, console)
    return js, png


def compare_predict(opts: Any, top_k: int, quiet: bool, as_json: bool, bars: Any,
                    t0: float) -> None:
    """``lrkit compare --predict``: :func:`~lrkit.experiment.shortlist.run_predict_compare`,
    then predict.json, predict.png and the table."""
    import time

    from ..experiment.shortlist import run_predict_compare

    with bars:
        res = run_predict_compare(opts, top_k, bars)
    js, png = write(res.report, opts.out, quiet, as_json, bars.console if as_json else None)
    trained = [r for r in res.report["schedules"] if r["trained_rank"] == 1]
    if trained:
        w = trained[0]
        bars.note(f"winner (trained): {w['label']} at peak {w['trained_peak']:.3g}; "
                  f"{time.perf_counter() - t0:.1f} s ("
                  + ", ".join(f"{k} {v:.1f} s" for k, v in res.timing.items()) + ")")
    bars.note(f"wrote {png}, {js}")


@main.command("predict")
@click.argument("specs", nargs=-1, metavar="[SCHEDULE]...")
@click.option("--schedules", "-s", multiple=True, metavar="SPEC",
              help="as for compare (N = total steps, P = the peak)  [default: the "
                   f"{len(recipe.DEFAULT_SHAPES)} defaults]")
@click.option("--from", "from_dir", default=None, metavar="OUT_DIR",
              help="a compare --out directory (its lrkit.db)")
@click.option("--storage", default=None, help="an Optuna storage URL holding compare runs")
@click.option("--study", default=recipe.STUDY, show_default=True, help="Optuna study name")
@click.option("--out", "-o", default=recipe.OUT, show_default=True,
              help="directory for predict.png and predict.json")
@click.option("--json", "as_json", is_flag=True, help="print predict.json to stdout")
@click.option("--quiet", "-q", is_flag=True, help="no table")
def predict_cmd(specs: tuple[str, ...], schedules: tuple[str, ...], from_dir: str | None,
                storage: str | None, study: str, out: str, as_json: bool, quiet: bool) -> None:
    """Predict schedules' validation-loss curves from stored runs, without training
    (experimental).

    Fits the loss law of Tissue et al. (2024) at every stored peak on the fitting runs
    (constant and cosine, every seed) of the last setup stored in the study, and
    predicts each schedule from its learning rates alone. Writes predict.png and
    predict.json into --out.

    \b
    lrkit compare -s constant -s cosine -o runs      # the fitting runs
    lrkit predict --from runs wsd "fast=cosine(init=1, steps=N/2)"
    """
    from ..errors import InputError
    from ..experiment.candidates import parse_candidates
    from ..experiment.compare import default_storage
    from ..experiment.forecast import forecast, grids
    from ..experiment.opening import sqlite_file
    from ..experiment.options import check_out, study_name
    from ..experiment.predict_report import build
    from ..experiment.storage import check_form
    from ..experiment.store import Store

    if (from_dir is None) == (storage is None):
        raise InputError("give --from OUT_DIR or --storage URL (one of them)")
    study_name(study)
    check_out(out, make=False)
    if storage is not None:
        check_form(storage)
    if from_dir is not None:
        db = os.path.join(from_dir, "lrkit.db")
        if not os.path.isfile(db):
            raise InputError(f"--from {from_dir!r}: no lrkit.db in it (a compare --out "
                             "directory has one)")
        storage = default_storage(from_dir)
    assert storage is not None
    cands = parse_candidates([*schedules, *specs])
    if not os.path.exists(sqlite_file(storage) or "/"):
        raise InputError(f"--storage {storage!r}: no such database (lrkit predict reads the "
                         "runs a compare stored)")
    found = grids(Store(storage, study).records())
    if not found:
        raise InputError(f"study {study!r} in {storage!r} holds no lrkit runs")
    grid = found[0]
    fc = forecast(grid, cands)
    if fc.error is None:
        why = "; ".join(f"peak {p:.3g}: {f.problem}" for p, f in sorted(fc.fits.items()))
        raise InputError(f"no peak of the study can be fitted ({why}); the law needs "
                         "constant and cosine runs at each peak and seed: lrkit compare "
                         "-s constant -s cosine with the same settings")
    report = build(grid, fc, cands, {"storage": storage, "study": study})
    js, png = write(report, out, quiet, as_json)
    if not quiet:
        click.echo(f"wrote {png}, {js}", err=True)


predict_cmd.help = (predict_cmd.help or "") + "\n\n" + recipe.PREDICT_ACCURACY
