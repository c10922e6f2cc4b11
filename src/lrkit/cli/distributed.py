"""``lrkit worker``, ``lrkit status`` and ``lrkit report``: a comparison shared by many
processes through a PostgreSQL or journal storage (see :mod:`lrkit.experiment.distributed`).

optuna and torch are imported inside the commands, so ``lrkit --help`` stays fast.
"""

from __future__ import annotations

import json
import time

import click

from ..experiment import recipe
from . import main
from .experiment import _Bars, write_outputs


def _check(storage: str, study: str | None, out: str | None = None) -> None:
    """The options every command here shares, checked before the storage is opened."""
    from ..experiment.options import check_out, study_name
    from ..experiment.storage import check_form

    check_form(storage)
    if study is not None:
        study_name(study)
    if out is not None:  # made when the report is written
        check_out(out, make=False)

_STORAGE = click.option("--storage", required=True, metavar="URL",
                        help="the comparison's storage: postgresql://USER:PW@HOST/DB or "
                             "journal:///ABS/PATH.log")
_STUDY = click.option("--study", default=None, metavar="NAME",
                      help="the comparison's study  [default: the only one in --storage]")


@main.command("worker")
@_STORAGE
@_STUDY
@click.option("--out", "-o", default=recipe.OUT, show_default=True,
              help="where to write the report if this worker finishes the last run")
@click.option("--device", default=None, metavar="DEV",
              help=f"where to train: cpu, cuda, cuda:N  [default: {recipe.DEVICE}]")
@click.option("--lease", type=float, default=recipe.LEASE, show_default=True, metavar="SECONDS",
              help="a claimed chunk without a heartbeat for this long goes to another worker")
@click.option("--quiet", "-q", is_flag=True, help="no progress lines or table")
def worker_cmd(storage: str, study: str | None, out: str, device: str | None, lease: float,
               quiet: bool) -> None:
    """Claim chunks of a shared comparison and train them, until every run is done.

    Start any number, on any machines, in any order, after lrkit compare
    --storage URL has planned the comparison. A worker that dies gives its
    chunk back after --lease seconds; whoever finishes the last run writes the
    report into its --out.

    \b
    lrkit worker --storage postgresql://lrkit:PW@db.example/lrkit
    """
    from ..experiment.distributed import Comparison
    from ..experiment.queue import check_lease
    from ..experiment.trainer import check_device

    check_lease(lease)
    if device is not None:
        check_device(device)
    _check(storage, study, out)
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)
    with _Bars(quiet) as bars:
        comp = Comparison.join(storage, study, lease, device)
        last = comp.work(bars)
        if not last:
            bars.note(f"comparison {comp.study!r}: nothing left to claim")
            return
        result = comp.result()
    write_outputs(result, out, quiet, False, bars, t0)


@main.command("status")
@_STORAGE
@_STUDY
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON")
def status_cmd(storage: str, study: str | None, as_json: bool) -> None:
    """How far a shared comparison is: runs stored, claimed (by which workers), waiting.

    \b
    lrkit status --storage journal:///shared/lrkit.log
    """
    from ..experiment.distributed import status

    _check(storage, study)
    st = status(storage, study)
    if as_json:
        click.echo(json.dumps(st, indent=2, sort_keys=True))
        return
    r = st["runs"]
    click.echo(f"{st['study']}: {'done' if st['done'] else 'under way'}; runs planned "
               f"{r['planned']}, stored {r['stored']}, claimed {r['claimed']}, waiting "
               f"{r['waiting']}; stored twice {r['duplicates']}; leases run out {st['stale']}")
    for who, d in sorted(st["workers"].items()):
        click.echo(f"  {who}: {d['done']} runs done, {d['claimed']} claimed")


@main.command("report")
@_STORAGE
@_STUDY
@click.option("--out", "-o", default=recipe.OUT, show_default=True,
              help="directory for compare.png, results.json, report.html")
@click.option("--json", "as_json", is_flag=True, help="print results.json to stdout")
@click.option("--quiet", "-q", is_flag=True, help="no table")
def report_cmd(storage: str, study: str | None, out: str, as_json: bool, quiet: bool) -> None:
    """Render a shared comparison's report from the store, now (also while workers run:
    runs not stored yet are left out and counted).

    \b
    lrkit report --storage postgresql://lrkit:PW@db.example/lrkit --out report/
    """
    from ..experiment.distributed import Comparison

    _check(storage, study, out)
    t0 = time.perf_counter()
    with _Bars(True) as bars:
        bars.quiet = quiet
        comp = Comparison.join(storage, study, recipe.LEASE)
        result = comp.result()
    write_outputs(result, out, quiet, as_json, bars, t0)
