"""The comparison's report: a rich table, ``compare.png``, ``results.json``, ``report.html``.

Rendering only. Everything is drawn from the report dict,
:meth:`lrkit.experiment.compare.CompareResult.to_dict` (which is what
``results.json`` holds), so a resumed comparison and an uninterrupted one
write the same files, and a saved ``results.json`` renders again.
``report.html`` is self-contained: inline CSS, figures embedded as base64 PNG,
no script, no network.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from .._files import save_figure, write_text
from .floats import float_array
from .recipe import (
    CI_DEFINITION,
    EXTEND_FACTOR,
    MAX_EXTEND,
    OSC_DEFINITION,
    auto_factors_text,
    times,
)


def fmt_ci(d: dict[str, Any] | None, pct: bool = False) -> str:
    """``"0.0712 ± 0.0041"`` (``pct``: ``"97.4% ± 0.6"``); ``"—"`` when nothing is finite.

    >>> fmt_ci({"mean": 0.97361, "ci": 0.0061, "n": 3}, pct=True)
    '97.4% ± 0.6'
    >>> fmt_ci({"mean": 0.0712, "ci": None, "n": 1})
    '0.0712'
    """
    if not d or d.get("mean") is None:
        return "\u2014"
    m, ci = d["mean"], d.get("ci")
    if pct:
        s = f"{100 * m:.1f}%"
        return s if ci is None else f"{s} \u00b1 {100 * ci:.1f}"
    s = f"{m:.4f}"
    return s if ci is None else f"{s} \u00b1 {ci:.3f}"


def fmt_num(x: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, ``"—"`` for ``None``.

    >>> fmt_num(0.041234), fmt_num(None)
    ('0.0412', '—')
    """
    if x is None or not math.isfinite(x):
        return "\u2014"
    return f"{x:.{digits}g}"


def target_text(target: dict[str, float] | None, short: bool = False) -> str:
    """The target in words, for column headers: ``"acc ≥ 0.95"``, ``"loss ≤ 0.1"``
    (``short``: no spaces)."""
    if not target:
        return "target"
    sp = "" if short else " "
    parts = []
    if target.get("acc") is not None:
        parts.append(f"acc{sp}\u2265{sp}{target['acc']:g}")
    if target.get("loss") is not None:
        parts.append(f"loss{sp}\u2264{sp}{target['loss']:g}")
    return ", ".join(parts)


def rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The table as text: header and one row per schedule, ranked."""
    has_acc = any(r["val_acc"] is not None for r in report["schedules"])
    header = ["#", "schedule", "val loss", *(["val acc"] if has_acc else []), "vs #1",
              f"steps to {target_text(report.get('target'), short=True)}", "best peak",
              "oscill.", "diverged"]
    out = []
    for r in report["schedules"]:
        n = len(r["seeds"])
        steps = fmt_num(r["steps_to_target"], 6) if report.get("target") else "\u2014"
        if report.get("target") and r["steps_to_target"] is not None and r["reached_target"] < n:
            steps += f" ({r['reached_target']}/{n})"
        out.append([
            str(r["rank"]), r["label"] + (" (optimizer)" if r.get("optimizer") else ""),
            fmt_ci(r["val_loss"]),
            *([fmt_ci(r["val_acc"], pct=True)] if has_acc else []),
            fmt_diff(r.get("vs_best")), steps,
            fmt_num(r["best_peak"]) + ("*" if r.get("edge") else ""),
            fmt_num(r["oscillation"]), f"{r['diverged']}/{r['runs']}",
        ])
    return header, out


def fmt_diff(d: dict[str, Any] | None) -> str:
    """The paired difference to the winner, ``"+0.0123 ± 0.004"``; ``"—"`` for the winner.

    >>> fmt_diff({"mean": 0.01234, "ci": 0.0041, "n": 5}), fmt_diff(None)
    ('+0.0123 ± 0.004', '—')
    """
    if not d or d.get("mean") is None:
        return "\u2014"
    s = f"{d['mean']:+.4f}"
    return s if d.get("ci") is None else f"{s} \u00b1 {d['ci']:.3f}"


def caption(report: dict[str, Any]) -> str:
    """The notes under the table (a regression task has no accuracy to mention)."""
    has_acc = any(r["val_acc"] is not None for r in report["schedules"])
    text = (f"final val {'loss/acc' if has_acc else 'loss'}: mean \u00b1 95% CI over seeds at "
            "the best peak; vs #1: paired difference in val loss to the winner, seed by seed")
    if any(r.get("edge") for r in report["schedules"]):
        text += "; * best peak at the edge of the peaks tried"
    if any(r.get("optimizer") for r in report["schedules"]):
        text += ("; (optimizer): another optimizer at a constant rate (schedule-free or "
                 "learning-rate-free), not a schedule; its peak is its own rate")
    return text


def no_winner(report: dict[str, Any]) -> str | None:
    """The verdict's message when the comparison names no winner (every run diverged, or
    nothing was learned: :mod:`~lrkit.experiment.verdict`), else ``None``.

    >>> no_winner({"verdict": {"status": "all-diverged", "winner": None, "message": "NO WINNER"}})
    'NO WINNER'
    >>> no_winner({"verdict": {"status": "winner", "winner": "cosine", "message": "winner"}})
    """
    v = report.get("verdict") or {}
    if not v or v.get("winner"):
        return None
    return str(v.get("message") or "NO WINNER")


def print_table(report: dict[str, Any], console: Any = None) -> None:
    """The ranked table in the terminal (rich), laid out for the console's width by
    :func:`lrkit.experiment.table.fit` (at 80 columns every rank and label stays; long
    labels are cut and given in full below, the least useful columns dropped); a
    comparison without a winner gets no green row and its verdict in bold red under it."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .table import fit

    console = console or Console(width=None if sys.stdout.isatty() else 120)
    header, body = rows(report)
    lay = fit(header, body, console.width)
    cfg = report["config"]
    notes = [caption(report)]
    if lay.dropped:
        notes.append(f"left out at {console.width} columns: {', '.join(lay.dropped)} "
                     "(see report.html, or a wider terminal)")
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
        title=f"lrkit compare: {report['task']['name']}, {cfg['steps']} steps "
              f"({cfg['epochs']:g} epochs), {len(cfg['seeds'])} seeds, "
              + (f"{len(cfg['peaks'])} peaks per schedule" if cfg["peaks"]
                 else "schedules as written"),
        caption="\n".join([*lay.notes, *notes]), caption_justify="left",
    )
    for i, h in enumerate(lay.header):
        if i == 1:
            table.add_column(h, justify="left", no_wrap=True, width=lay.label_width)
        else:
            table.add_column(h, justify="right", no_wrap=True)
    none = no_winner(report)
    for r, row in zip(report["schedules"], lay.body):
        style = ("bold green" if r["rank"] == 1 and not none
                 else ("red" if r["score"] is None else None))
        table.add_row(*(Text(c) for c in row), style=style)  # labels are text, not markup
    console.print(table)
    if none:
        console.print(none, style="bold red", highlight=False, soft_wrap=True)


# -- figures ---------------------------------------------------------------------------


def _colors(labels: Sequence[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {lab: cmap(i % 10) for i, lab in enumerate(labels)}


def plot_compare(report: dict[str, Any], path: str) -> str:
    """``compare.png``: learning rate vs step (left) beside validation loss vs step (right),
    each schedule at its best peak; the loss is the mean over seeds with a min-max band.
    A baseline optimizer's loss is dashed, and its rate is left out of the left panel (it
    is not a learning rate on the schedules' scale: Prodigy's multiplies its own d)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sched = report["schedules"]
    colors = _colors(report["order"])
    fig, (ax_lr, ax_loss) = plt.subplots(1, 2, figsize=(12, 4.6), dpi=110)
    for r in sched:
        c = colors[r["label"]]
        label = f"{r['rank']}. {r['label']} (peak {fmt_num(r['best_peak'])})"
        if r.get("optimizer"):  # its rate is its own (a multiplier, for Prodigy): not drawn
            label = f"{r['rank']}. {r['label']}, optimizer (rate {fmt_num(r['best_peak'])})"
        else:
            lr = float_array(r["curves"]["lr"])
            ax_lr.plot(range(len(lr)), lr, color=c, lw=1.6, label=label)
        steps = r["curves"]["eval_steps"]
        band = r["curves"]["val_loss"]
        ax_loss.plot(steps, float_array(band["mean"]), color=c, lw=1.6, marker="o", ms=2.5,
                     label=label, ls="--" if r.get("optimizer") else "-")
        ax_loss.fill_between(steps, float_array(band["low"]), float_array(band["high"]), color=c,
                             alpha=0.1, lw=0)
    title = "learning rate (each schedule at its best peak)"
    if any(r.get("optimizer") for r in sched):
        title = "learning rate (each schedule at its best peak;\noptimizers, dashed at right, "\
                "not drawn: their rate is their own)"
    ax_lr.set(title=title, xlabel="optimizer step", ylabel="learning rate")
    ax_loss.set(title="validation loss (mean over seeds, band = min\u2013max)",
                xlabel="optimizer step", ylabel="validation loss", yscale="log")
    _zoom(ax_loss, sched)
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    ax_loss.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax_loss.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax_loss.yaxis.set_minor_formatter(NullFormatter())
    for ax in (ax_lr, ax_loss):
        ax.grid(alpha=0.3)
    if ax_loss.get_legend_handles_labels()[0]:  # none while no run of a shared study is in
        ax_loss.legend(fontsize=8, loc="upper right", framealpha=0.9)
    fig.suptitle(f"lrkit compare \u2014 {report['task']['name']}", fontsize=12)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)
    return path


def _zoom(ax: Any, sched: Sequence[dict[str, Any]]) -> None:
    """Keep the loss axis on the interesting range: from the best final mean to the
    largest value seen after the first evaluation (diverged curves are cut off)."""
    vals = [v for r in sched for v in r["curves"]["val_loss"]["high"][1:] if v is not None]
    lows = [v for r in sched for v in r["curves"]["val_loss"]["low"] if v is not None and v > 0]
    if vals and lows:
        first = [r["curves"]["val_loss"]["mean"][0] for r in sched]
        top = max([v for v in first if v is not None] + [min(max(vals), 10 * min(lows))])
        ax.set_ylim(min(lows) * 0.8, top * 1.25)


# -- files ------------------------------------------------------------------------------


def to_json(report: dict[str, Any]) -> str:
    """``results.json``'s text (standard JSON: non-finite numbers are ``null``)."""
    return json.dumps(report, indent=1, sort_keys=False, allow_nan=False) + "\n"


def _img(path: str | None, alt: str) -> str:
    if not path or not os.path.isfile(path):
        return ""
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1180px;color:#1d2330;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#556;font-size:13px;margin:0 0 12px}code{background:#f2f4f7;padding:1px 4px;
border-radius:3px;font-size:12px}
table{border-collapse:collapse;font-size:13px;width:100%}th,td{padding:6px 10px;
border-bottom:1px solid #e3e6eb;text-align:right;white-space:nowrap}
th{background:#f5f7fa;font-weight:600}td.l,th.l{text-align:left}
tr.win td{background:#eefaf0;font-weight:600}tr.bad td{color:#b42318}
.nowin{background:#fdecea;color:#b42318;border:2px solid #b42318;padding:.6em 1em;font-size:1.1em}
img{max-width:100%;border:1px solid #e3e6eb;border-radius:4px}
.notes{font-size:12px;color:#445;line-height:1.5}.spec{font-family:monospace;font-size:11px;
color:#556;white-space:normal;text-align:left}
"""


_TIMES = ", \u00d7"


def html_report(report: dict[str, Any], images: dict[str, str | None]) -> str:
    """The self-contained HTML page."""
    e = html.escape
    header, body = rows(report)
    cfg = report["config"]
    none = no_winner(report)
    head = "".join(f'<th class="{"l" if i == 1 else ""}">{e(h)}</th>' for i, h in enumerate(header))
    trs = []
    for r, row in zip(report["schedules"], body):
        cls = "win" if r["rank"] == 1 and not none else ("bad" if r["score"] is None else "")
        tds = "".join(f'<td class="{"l" if i == 1 else ""}">{e(c)}</td>' for i, c in enumerate(row))
        spec = r["schedule"] if not r.get("optimizer") else \
            f'{r["optimizer"]} optimizer, {r["schedule"]}'
        trs.append(f'<tr class="{cls}">{tds}<td class="spec">{e(spec)}</td></tr>')
    lf = report.get("lr_find")
    lf_text = (f"Range test suggestion: <b>{fmt_num(lf['suggestion'])}</b> "
               f"({e(str(lf.get('method', '')))}); peaks tried: "
               f"{', '.join(fmt_num(p) for p in cfg['peaks'])}." if lf else
               f"Peaks tried: {', '.join(fmt_num(p) for p in cfg['peaks']) or 'as written'}.")
    if report.get("baselines"):
        lf_text += " Optimizers, each tried at the same factors around its own centre: " + \
            "; ".join(f"{e(k)} centre {fmt_num(v['centre'])}"
                      for k, v in report["baselines"].items()) + "."
    figs = [_img(images.get("compare"), "learning rates and validation loss")]
    if images.get("lr_find"):
        figs.append("<h2>Learning-rate range test</h2>" + _img(images["lr_find"], "range test"))
    winner = report["schedules"][0]["label"] if report["schedules"] else "\u2014"
    title = "NO WINNER" if none else f"winner: {e(winner)}"
    banner = f'<p class="nowin"><b>{e(none)}</b></p>' if none else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lrkit compare: {e(report['task']['name'])}</title><style>{_CSS}</style></head>
<body>
<h1>lrkit compare: {e(report['task']['name'])} &mdash; {title}</h1>
{banner}
<p class="meta">{e(report['task'].get('description') or '')}<br>
{cfg['steps']} optimizer steps ({cfg['epochs']:g} epochs of {cfg['steps_per_epoch']}),
batch {cfg['batch_size']}, {e(cfg['optimizer'])} (momentum {cfg['momentum']:g}),
seeds {', '.join(str(s) for s in cfg['seeds'])}. {lf_text}<br>
Command: <code>{e(report.get('command') or 'lrkit compare')}</code></p>
<table><thead><tr>{head}<th class="l">schedule at its best peak</th></tr></thead>
<tbody>{''.join(trs)}</tbody></table>
<p class="meta">{e(caption(report))}.</p>
<h2>Learning rate and validation loss</h2>
{''.join(figs)}
<h2>How to read this</h2>
<p class="notes">Every schedule is a shape over the {cfg['steps']} steps, rescaled so that its
largest value equals the peak being tried; every schedule is tried at the same peaks and seeds
and reported at its best peak (lowest mean final validation loss; a peak where a seed diverged
never wins). Ranked by that mean. With automatic peaks, the range test's suggestion is tried
\u00d7{auto_factors_text(_TIMES)}, and the grid grows by \u00d7{EXTEND_FACTOR:g} (at most
{times(MAX_EXTEND)}) while a
schedule's best peak sits at its edge. {e(CI_DEFINITION)} vs #1: the final validation loss
minus the winner's, seed by seed (a seed fixes the initialisation and data order of every
schedule's run), mean \u00b1 95% interval; an interval that excludes 0 is a real gap.
Steps to target: the first evaluation step (evaluations after every epoch) at which the run
meets the target, lower median over seeds;
\u2014 when fewer than half of the seeds reach it; (k/n) when only k of n do.
{e(OSC_DEFINITION)} Diverged: runs whose loss became NaN or infinite, over all peaks and
seeds of the schedule.</p>
</body></html>
"""


def write_report(
    report: dict[str, Any], out: str, lr_find_png: str | None = None
) -> dict[str, str]:
    """Write ``compare.png``, ``results.json`` and ``report.html`` into ``out``; their paths.

    Each file is written atomically (:mod:`lrkit._files`): a failure leaves the previous
    version of that file, or none, never a partial one."""
    os.makedirs(out, exist_ok=True)
    paths = {"png": os.path.join(out, "compare.png"), "json": os.path.join(out, "results.json"),
             "html": os.path.join(out, "report.html")}
    text = to_json(report)  # first: a report that cannot be written as JSON writes nothing
    plot_compare(report, paths["png"])
    write_text(paths["json"], text)
    write_text(paths["html"], html_report(report, {"compare": paths["png"],
                                                   "lr_find": lr_find_png}))
    return paths
