"""``lrkit compare``: train one task under several schedules, fairly, and rank them.

The grid is *schedules x peaks x seeds*. Every schedule is a **shape** over
the run's total number of optimizer steps ``N``, rescaled so that its largest
value over ``t = 0 .. N-1`` equals the peak being tried::

    run(shape, peak) = (peak / max_{t<N} shape(t)) * shape

Every schedule gets the same tuning budget (the same peaks and the same
seeds) and is reported at its **best peak**: the peak with the lowest mean
final validation loss over the seeds (a peak where any seed diverged counts
as infinitely bad). Schedules are ranked by that mean.

``--peaks auto`` tries the range test's suggestion times ``AUTO_FACTORS``
(1/4 ... 4); while some schedule's best peak is the largest (smallest) peak
tried, the next peak up (down) by ``EXTEND_FACTOR`` (2) is added for every
schedule, at most twice
(:func:`extend_peaks`), so that no schedule is judged at the edge of its range.

The default schedules (``DEFAULTS``) are the seed document's four
(constant, time-based, step-based, exponential) plus cosine, one-cycle and
warmup-stable-decay, as shapes of ``N``:

==============  =====================================================================
constant        ``constant(P)``
time-based      ``time_decay(P, decay=9/N)``: ``P / (1 + 9 t/N)``, ends at ``P/10``
step-based      ``step_decay(P, drop=0.5, every=round(N/4))``: halves at 25/50/75 %
exponential     ``exponential(P, k=ln(100)/N)``: ``P exp(-k t)``, ends at ``P/100``
                (``9/N`` and ``ln(100)/N`` are rounded to 4 significant digits)
cosine          ``cosine(peak=P, steps=N)``
one-cycle       ``one_cycle(peak=P, steps=N)`` (30 % up from ``P/25``, then cosine down)
wsd             ``warmup(wsd(peak=P, steps=N, decay=round(N/5)), steps=round(N/20))``
==============  =====================================================================

User schedules (``--schedules``) are spec strings, schedule files, default
names, or ``label=spec``. The name ``N`` in a spec stands for the total step
count (``cosine(peak=1, steps=N)``). A spec's own ``steps`` are taken
literally (a schedule shorter than the run holds its last value), and its own
peak is replaced by the peak being tried (the shape is rescaled), so that
every schedule gets the same tuning budget. With ``peaks="spec"`` nothing is
rescaled: each schedule runs once per seed exactly as written.

Pure parts (planning, metrics, the summary) import neither torch nor optuna;
:func:`run_grid` imports the trainer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

import lrkit
from lrkit.schedule import Schedule

#: the version of the run recipe; part of every run key (bump when training changes)
RECIPE = 2
#: the range test behind ``--peaks auto``: a 200-step sweep, lightly smoothed, and the
#: steepest-descent suggestion. On digits-mlp (SGD, momentum 0.9) fastai's defaults
#: (100 steps, smoothing 0.98, valley) suggest 0.01, where every schedule's best peak
#: is 3-9x higher: the heavy smoothing lags a short sweep. This recipe suggests 0.056,
#: the best constant learning rate found by a grid search.
RANGE_TEST = {"steps": 200, "smooth": 0.9, "suggestion": "steep"}
#: ``--peaks auto``: the range test's suggestion times these factors
AUTO_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
#: ``--peaks auto``: the factor between a grid edge and the peak added beyond it
EXTEND_FACTOR = 2.0


def auto_factors_text(sep: str = ", ") -> str:
    """``AUTO_FACTORS`` as text.

    >>> auto_factors_text()
    '1/4, 1/2, 1, 2, 4'
    """
    from fractions import Fraction

    return sep.join(str(Fraction(f).limit_denominator(100)) for f in AUTO_FACTORS)


#: ``--peaks auto`` adds at most this many peaks beyond the grid's edges (see extend_peaks)
MAX_EXTEND = 2
#: the fraction of the last training steps the oscillation figure looks at
OSC_WINDOW = 0.25

Result = dict[str, Any]  # RunResult.to_dict()


# -- schedules as shapes -------------------------------------------------------------


def _r(x: float) -> int:
    return max(1, int(round(x)))


DEFAULTS: dict[str, tuple[str, Callable[[int, float], Schedule]]] = {
    "constant": ("constant(P)", lambda n, p: lrkit.constant(p)),
    "time-based": (
        "time_decay(P, decay=9/N)",
        lambda n, p: lrkit.time_decay(p, decay=round_sig(9 / n, 4)),
    ),
    "step-based": (
        "step_decay(P, drop=0.5, every=N/4)",
        lambda n, p: lrkit.step_decay(p, drop=0.5, every=_r(n / 4)),
    ),
    "exponential": (
        "exponential(P, k=ln(100)/N)",
        lambda n, p: lrkit.exponential(p, k=round_sig(math.log(100) / n, 4)),
    ),
    "cosine": ("cosine(peak=P, steps=N)", lambda n, p: lrkit.cosine(peak=p, steps=n)),
    "one-cycle": ("one_cycle(peak=P, steps=N)", lambda n, p: lrkit.one_cycle(peak=p, steps=n)),
    "wsd": (
        "warmup(wsd(peak=P, steps=N, decay=N/5), steps=N/20)",
        lambda n, p: lrkit.warmup(lrkit.wsd(peak=p, steps=n, decay=_r(n / 5)), steps=_r(n / 20)),
    ),
}


@dataclass(frozen=True)
class Candidate:
    """One schedule of the comparison: ``make(N, peak)`` -> the absolute schedule.

    ``describe`` is the shape in words (``P`` = peak, ``N`` = total steps).
    ``rescale=False`` (``--peaks spec``) runs the spec as written.
    """

    label: str
    describe: str
    make: Callable[[int, float], Schedule] = field(compare=False)
    rescale: bool = True

    def at(self, n: int, peak: float | None) -> Schedule:
        """The schedule run for ``n`` total steps at ``peak`` (``None``: as written)."""
        return self.make(n, 1.0 if peak is None else peak)


def _spec_maker(
    text: str, shape: Schedule | None, rescale: bool
) -> Callable[[int, float], Schedule]:
    def make(n: int, peak: float) -> Schedule:
        s = shape if shape is not None else lrkit.parse(substitute_n(text, n))
        if not rescale:
            return s
        top = float(np.max(s.values(n)))
        if not (math.isfinite(top) and top > 0):
            raise ValueError(
                f"schedule {text!r}: its largest value over the {n} steps is {top!r}; "
                "a shape to rescale must have a positive maximum"
            )
        return s if top == peak else (peak / top) * s

    return make


_N = re.compile(r"\bN\b")


def substitute_n(text: str, n: int) -> str:
    """Replace the name ``N`` in a spec by the total step count.

    >>> substitute_n("cosine(peak=1, steps=N)", 460)
    'cosine(peak=1, steps=460)'
    """
    return _N.sub(str(int(n)), text)


def parse_candidates(items: Sequence[str] | None, *, rescale: bool = True) -> list[Candidate]:
    """Candidates from ``--schedules`` items (``None`` or empty: the defaults).

    An item is a default name (``cosine``), ``label=spec`` or ``label=FILE``,
    a schedule file (``.json``/``.yaml``/``.yml``/``.toml``) or a spec string.
    Every spec is parsed here (with ``N = 1000``) so that a bad one fails
    before anything runs.

    >>> [c.label for c in parse_candidates(["cosine", "fast=cosine(peak=1, steps=N/2)"])]
    ['cosine', 'fast']
    """
    if not items:
        items = list(DEFAULTS)
    out: list[Candidate] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"--schedules: an empty schedule spec {item!r}")
        label, text = _split_label(item.strip())
        if text in DEFAULTS:
            if not rescale:
                raise ValueError(
                    f"--schedules {text!r} is a shape without a peak, and --peaks spec runs "
                    f"schedules as written: give a full spec such as {DEFAULTS[text][0]!r} "
                    "with numbers, or choose peaks"
                )
            describe, make = DEFAULTS[text]
            out.append(Candidate(label or text, describe, make))
            continue
        shape: Schedule | None = None
        if _is_file(text):
            shape = lrkit.load(text)
            describe = repr(shape)
            label = label or os.path.splitext(os.path.basename(text))[0]
        else:
            try:
                lrkit.parse(substitute_n(text, 1000))
            except lrkit.SpecError as e:
                raise lrkit.SpecError(f"--schedules {text!r}: {e}") from None
            describe = text
        out.append(Candidate(label or text, describe, _spec_maker(text, shape, rescale), rescale))
    labels = [c.label for c in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"--schedules: duplicate label(s) {', '.join(dup)}; name them label=spec")
    return out


_LABEL = re.compile(r"^([A-Za-z_][\w.-]*)=(?!=)(.+)$", re.S)


def _split_label(item: str) -> tuple[str | None, str]:
    m = _LABEL.match(item)
    if m and "(" not in m.group(1):
        return m.group(1), m.group(2).strip()
    return None, item


def _is_file(text: str) -> bool:
    return os.path.splitext(text)[1].lower() in (".json", ".yaml", ".yml", ".toml") or (
        "(" not in text and os.path.isfile(text)
    )


def parse_peaks(text: str | None) -> tuple[str, tuple[float, ...]]:
    """``--peaks``: ``("auto", factors)``, ``("spec", ())`` or ``("fixed", peaks)``.

    ``auto`` multiplies the range test's suggestion by ``AUTO_FACTORS``;
    ``auto:0.5,1,2`` by the given factors; ``0.01,0.1`` are absolute peaks.

    >>> parse_peaks("auto")[0], parse_peaks("0.01, 0.1")
    ('auto', ('fixed', (0.01, 0.1)))
    """
    t = "auto" if text is None else str(text).strip().lower()
    if t == "spec":
        return "spec", ()
    kind, body = ("auto", t[5:]) if t.startswith("auto:") else ("fixed", t)
    if t == "auto":
        return "auto", AUTO_FACTORS
    try:
        vals = tuple(float(v) for v in body.split(",") if v.strip())
    except ValueError:
        vals = ()
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        raise ValueError(
            f"--peaks must be 'auto', 'auto:F1,F2,..', 'spec' or positive numbers like "
            f"'0.01,0.1', got {text!r}"
        )
    return kind, tuple(dict.fromkeys(vals))


def round_sig(x: float, digits: int = 3) -> float:
    """``x`` rounded to ``digits`` significant digits (peaks read better so).

    >>> round_sig(0.0123456)
    0.0123
    """
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, digits - 1 - int(math.floor(math.log10(abs(x)))))


# -- the grid ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One run of the grid; ``key`` identifies it in the store."""

    key: str
    label: str
    peak: float
    seed: int
    schedule: Schedule


def run_key(config: dict[str, Any], schedule: Schedule, seed: int) -> str:
    """A stable key: a hash of the recipe, the training config, the schedule and the seed.

    The label is not part of it, so renaming a schedule reuses its runs.
    """
    blob = json.dumps(
        {"recipe": RECIPE, "config": config, "schedule": repr(schedule), "seed": int(seed)},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def plan(
    candidates: Sequence[Candidate], peaks: Sequence[float | None], seeds: Sequence[int],
    steps: int, config: dict[str, Any],
) -> list[Planned]:
    """The grid, seed-major (seed, then schedule, then peak): a fixed order, hence fixed chunks."""
    out = []
    for seed in seeds:
        for c in candidates:
            for p in peaks:
                s = c.at(steps, p)
                peak = float(p) if p is not None else float(np.max(s.values(steps)))
                out.append(Planned(run_key(config, s, seed), c.label, peak, int(seed), s))
    return out


def chunked(runs: Sequence[Planned], size: int) -> list[list[Planned]]:
    """Consecutive chunks of ``size`` distinct runs (duplicates of a key are run once).

    Chunks depend only on the grid and ``size``, never on ``--jobs`` or on what is
    already stored, so a resumed run trains every run in the same batch as an
    uninterrupted one.
    """
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size!r}")
    uniq = list({r.key: r for r in runs}.values())
    return [uniq[i:i + size] for i in range(0, len(uniq), size)]


# -- metrics -----------------------------------------------------------------------------


#: Student t 0.975 quantiles for 1..30 degrees of freedom (scipy.stats.t.ppf, 6 decimals)
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
         2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.13145, 2.119905,
         2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
         2.059539, 2.055529, 2.051831, 2.048407, 2.04523, 2.042272)


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (no scipy: a table
    up to 30, then the Cornish-Fisher expansion in ``1/df``, error < 1e-7).

    >>> t975(2), round(t975(1000), 4)
    (4.302653, 1.9623)
    """
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df!r}")
    if df <= len(_T975):
        return _T975[df - 1]
    z, v = 1.959963984540054, float(df)
    return (z + (z**3 + z) / (4 * v) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
            + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
            + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * v**4))


def mean_ci(values: Iterable[float]) -> dict[str, Any]:
    """Mean and 95 % half-width over seeds, from the t-distribution: ``t(0.975, n-1) s/sqrt(n)``.

    Non-finite values are left out (``n`` counts the rest); ``ci`` is ``None`` for ``n < 2``.

    >>> d = mean_ci([1.0, 2.0, 3.0])
    >>> d["mean"], round(d["ci"], 4), d["n"]
    (2.0, 2.4841, 3)
    """
    v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return {"mean": None, "ci": None, "n": 0}
    ci = t975(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else None
    return {"mean": float(v.mean()), "ci": ci, "n": int(len(v))}


def oscillation(train_loss: Sequence[float], window: float = OSC_WINDOW) -> float | None:
    """How much the training loss swings late in training.

    Over the last ``k = max(3, ceil(window * n))`` steps, with ``L`` the per-step
    training (minibatch) loss::

        oscillation = std(L[t+1] - L[t]) / mean(L)

    the standard deviation (ddof=0) of the step-to-step changes relative to the
    mean level. ``None`` if the window holds a non-finite loss or its mean is not
    positive.

    >>> # 20 steps: the window is the last 5; changes of +-0.2 around a mean of 1.08
    >>> round(oscillation([2.0] * 15 + [1.0, 1.2, 1.0, 1.2, 1.0]), 6)
    0.185185
    """
    a = _arr(train_loss)
    k = min(len(a), max(3, math.ceil(window * len(a))))
    w = a[len(a) - k:]
    if k < 3 or not np.all(np.isfinite(w)) or w.mean() <= 0:
        return None
    return float(np.diff(w).std() / w.mean())


def steps_to_target(res: Result, target: dict[str, float] | None) -> float:
    """The first eval step where val accuracy >= ``target["acc"]`` or val loss <=
    ``target["loss"]`` (``inf`` if never; both given: the first step meeting both)."""
    if not target:
        return math.inf
    steps = res["eval_steps"]
    ok = np.ones(len(steps), dtype=bool)
    if target.get("loss") is not None:
        ok &= _arr(res["val_loss"]) <= target["loss"]
    if target.get("acc") is not None:
        m = res.get("val_metric")
        if m is None:
            return math.inf
        ok &= _arr(m) >= target["acc"]
    hit = np.flatnonzero(ok)
    return float(steps[hit[0]]) if len(hit) else math.inf


def _arr(v: Iterable[float | None]) -> np.ndarray:
    """A float64 array with ``None`` (how JSON writes NaN) read as NaN."""
    return np.array([math.nan if x is None else x for x in v], dtype=np.float64)


def _final(res: Result, field_: str) -> float:
    v = res.get(field_)
    if res.get("diverged") or not v:
        return math.nan
    x = v[-1]
    return float(x) if x is not None else math.nan


def _band(rows: Sequence[Sequence[float]]) -> dict[str, list[float | None]]:
    """Mean, min and max over seeds at each point (non-finite values left out)."""
    width = max((len(r) for r in rows), default=0)
    a = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        a[i, :len(r)] = _arr(r)
    a[~np.isfinite(a)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN
        return {"mean": _clean(np.nanmean(a, axis=0)), "low": _clean(np.nanmin(a, axis=0)),
                "high": _clean(np.nanmax(a, axis=0))}


def _clean(a: Iterable[float]) -> list[float | None]:
    return [float(x) if x is not None and math.isfinite(x) else None for x in a]


def summarize(
    planned: Sequence[Planned], results: dict[str, Result], order: Sequence[str],
    target: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Per schedule, at its best peak: the ranked rows of the report (JSON-ready).

    ``results`` maps run keys to ``RunResult.to_dict()``; every planned run must be
    there. ``order`` (the labels in the user's order) breaks ties.
    """
    by_label: dict[str, dict[float, list[Planned]]] = {}
    for p in planned:
        by_label.setdefault(p.label, {}).setdefault(p.peak, []).append(p)
    rows = []
    for label in order:
        peaks = by_label[label]
        score = {}
        for peak, runs in peaks.items():
            finals = [_final(results[r.key], "val_loss") for r in runs]
            score[peak] = float(np.mean(finals)) if all(map(math.isfinite, finals)) else math.inf
        best = min(peaks, key=lambda p: (score[p], p))
        runs = sorted(peaks[best], key=lambda r: r.seed)
        res = [results[r.key] for r in runs]
        n_div = sum(bool(results[r.key]["diverged"]) for rs in peaks.values() for r in rs)
        to_target = [steps_to_target(x, target) for x in res]
        med = sorted(to_target)[(len(to_target) - 1) // 2] if to_target else math.inf
        osc = [oscillation(x["train_loss"]) for x in res if not x["diverged"]]
        metric = [x.get("val_metric") for x in res]
        per_seed = {r.seed: _final(x, "val_loss") for r, x in zip(runs, res)}
        rows.append({
            "label": label,
            "schedule": repr(runs[0].schedule),
            "best_peak": best,
            "edge": len(peaks) > 1 and best in (min(peaks), max(peaks)),
            "score": score[best] if math.isfinite(score[best]) else None,
            "val_loss": mean_ci(per_seed.values()),
            "final_val_loss": {str(k): (v if math.isfinite(v) else None)
                               for k, v in per_seed.items()},
            "val_acc": (mean_ci(_final(x, "val_metric") for x in res)
                        if all(m is not None for m in metric) else None),
            "steps_to_target": med if math.isfinite(med) else None,
            "reached_target": int(sum(math.isfinite(s) for s in to_target)),
            "oscillation": mean_ci(o for o in osc if o is not None)["mean"],
            "diverged": n_div,
            "runs": sum(len(rs) for rs in peaks.values()),
            "diverged_at_best": int(sum(bool(x["diverged"]) for x in res)),
            "seeds": [r.seed for r in runs],
            "peaks": {repr(p): (score[p] if math.isfinite(score[p]) else None)
                      for p in sorted(peaks)},
            "curves": {
                "lr": _clean(res[0]["lr"]),
                "eval_steps": [int(s) for s in res[0]["eval_steps"]],
                "val_loss": _band([x["val_loss"] for x in res]),
            },
        })
    rank = sorted(range(len(rows)), key=lambda i: (
        rows[i]["score"] if rows[i]["score"] is not None else math.inf, i))
    ranked = [rows[i] for i in rank]
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
        r["vs_best"] = None if i == 1 else paired(r, ranked[0])
    return ranked


def paired(row: dict[str, Any], best: dict[str, Any]) -> dict[str, Any]:
    """The final validation loss minus the winner's, seed by seed (a seed fixes the init and
    the data order of every schedule's run, so the difference cancels the seed's luck):
    :func:`mean_ci` over the seeds where both are finite. An interval that excludes 0
    means the gap is real at 95 %."""
    a, b = row["final_val_loss"], best["final_val_loss"]
    return mean_ci(a[s] - b[s] for s in a if a[s] is not None and b.get(s) is not None)


# -- running the grid ----------------------------------------------------------------------


@dataclass(frozen=True)
class TaskRef:
    """How to rebuild a task in any process: a built-in name, a data file + target
    column, or a ``package.module:factory``."""

    kind: str  # "builtin" | "file" | "factory"
    name: str
    target: str | None = None

    @classmethod
    def of(cls, task: str | None, data: str | None, target: str | None) -> TaskRef:
        """From the CLI's ``--task`` / ``--data`` / ``--target``."""
        if data is not None:
            if task is not None:
                raise ValueError("give either --task or --data, not both")
            if not target:
                raise ValueError(f"--data {data!r} needs --target COLUMN")
            return cls("file", data, target)
        if target is not None:
            raise ValueError("--target goes with --data FILE")
        name = task or "digits-mlp"
        from .tasks import BUILTIN

        return cls("builtin" if name in BUILTIN else "factory", name)

    def load(self) -> Any:
        """The :class:`~lrkit.experiment.tasks.Task` (imports torch)."""
        from .tasks import from_file, get_task

        if self.kind == "file":
            return from_file(self.name, str(self.target))
        return get_task(self.name)

    def ident(self) -> str:
        """What identifies the task in run keys (a data file by its content, not its path)."""
        if self.kind == "file":
            with open(self.name, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()[:16]
            return f"file:{digest}:{self.target}"
        return f"{self.kind}:{self.name}"


_WORKER: dict[str, Any] = {}


def _worker_init(queue: Any) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER["queue"] = queue


def _task_cached(ref: TaskRef) -> Any:
    tasks = _WORKER.setdefault("tasks", {})
    if ref not in tasks:
        tasks[ref] = ref.load()
    return tasks[ref]


@contextlib.contextmanager
def _user_code(ref: TaskRef) -> Iterator[None]:
    """A user's model (``--task pkg.mod:factory``) that fails while training is a user
    error (a one-line message), not a crash; runs finished before it stay stored."""
    try:
        yield
    except (ValueError, TypeError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError and friends
        if ref.kind != "factory":
            raise
        msg = " ".join(str(e).split())[:300]
        raise ValueError(f"training task {ref.name!r} failed: {type(e).__name__}: {msg}") from e


def _preload(ref: TaskRef) -> list[str]:
    return ["sklearn.datasets"] if ref.kind == "builtin" and ref.name.startswith("digits") else []


def train_chunk(
    ref: TaskRef, runs: Sequence[tuple[str, Schedule, int]], train_kw: dict[str, Any],
    progress: Callable[[int], None] | None = None,
) -> list[Result]:
    """Train one chunk as one batched model; ``progress(n)`` gets run-steps done since
    the last call. Returns ``RunResult.to_dict()`` per run, in order."""
    from .trainer import Run, train

    queue = _WORKER.get("queue")
    if progress is None and queue is not None:
        progress = queue.put
    r = len(runs)
    last = [0]

    def cb(step: int, total: int) -> None:
        if progress is not None and (step - last[0] >= 8 or step == total):
            progress((step - last[0]) * r)
            last[0] = step

    results = train(_task_cached(ref), [Run(k, s, seed) for k, s, seed in runs],
                    progress=cb, **train_kw)
    return [x.to_dict() for x in results]


def run_grid(
    ref: TaskRef, chunks: Sequence[Sequence[Planned]], train_kw: dict[str, Any],
    on_done: Callable[[Sequence[Planned], list[Result]], None], *, jobs: int = 1,
    progress: Callable[[int], None] | None = None, pool: Any = None,
) -> None:
    """Train ``chunks`` and hand each finished chunk to ``on_done`` at once (in the
    calling process, so only it writes to the store).

    ``jobs == 1`` trains in this process (on the caller's torch threads); otherwise
    ``pool`` (see :func:`make_pool`) or a new pool of ``jobs`` processes (one torch
    thread each) takes the chunks.
    """
    payload = [[(p.key, p.schedule, p.seed) for p in c] for c in chunks]
    if jobs <= 1 or len(chunks) <= 1:
        for chunk, runs in zip(chunks, payload):
            on_done(chunk, train_chunk(ref, runs, train_kw, progress))
        return
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, wait

    own = pool is None
    if own:
        pool = make_pool(jobs)
    try:
        futures = {pool.submit(train_chunk, ref, runs, train_kw): c
                   for c, runs in zip(chunks, payload)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    n = pool.lrkit_queue.get_nowait()
                except queue_mod.Empty:
                    break
                if progress is not None:
                    progress(n)
            for f in sorted(done, key=lambda f: chunks.index(futures[f])):
                on_done(futures[f], f.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if own:
            pool.shutdown(wait=True)


def make_pool(jobs: int, preload: Sequence[str] = ()) -> Any:
    """A process pool of ``jobs`` workers (one torch thread each) with a progress queue.

    Workers are forked from a fresh *forkserver* process that imports the trainer (and
    ``preload``) once, so they start without importing torch each, and never inherit
    this process's threads.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([f"{__package__}.trainer", *preload])
    q = ctx.Queue()
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init,
                               initargs=(q,))
    pool.lrkit_queue = q  # type: ignore[attr-defined]
    return pool


# -- the whole comparison ------------------------------------------------------------------

DEFAULT_EPOCHS = 20
DEFAULT_SEEDS = 5
DEFAULT_CHUNK = 35
DEFAULT_TARGET_ACC = 0.95
DEFAULT_OUT = "lrkit-out"


@dataclass
class Options:
    """Everything ``lrkit compare`` takes (the CLI's options, one to one)."""

    task: str | None = None
    data: str | None = None
    target: str | None = None
    schedules: Sequence[str] = ()
    epochs: int | None = None
    steps: int | None = None
    seeds: int | str | Sequence[int] = DEFAULT_SEEDS
    peaks: str = "auto"
    batch_size: int = 64
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    jobs: int = 1
    chunk_size: int = DEFAULT_CHUNK
    out: str = DEFAULT_OUT
    storage: str | None = None
    study: str = "lrkit-compare"
    target_acc: float | None = None
    target_loss: float | None = None
    command: str | None = None


class Progress:
    """What :func:`run_compare` tells its caller while it works (this one: nothing)."""

    def phase(self, name: str, total: int) -> Callable[[float], None]:
        """A new phase of ``total`` units (runs, or range-test steps); returns
        ``advance(amount)``."""
        return lambda n: None

    def note(self, text: str) -> None:
        """A one-line message."""


def parse_seeds(seeds: int | str | Sequence[int]) -> list[int]:
    """``3`` or ``"3"`` -> ``[0, 1, 2]``; ``"0,4,7"`` or ``[0, 4, 7]`` -> those seeds.

    >>> parse_seeds("3"), parse_seeds("0,4,7")
    ([0, 1, 2], [0, 4, 7])
    """
    try:
        if isinstance(seeds, str):
            vals = [int(s) for s in seeds.split(",") if s.strip()]
            out = list(range(vals[0])) if "," not in seeds and len(vals) == 1 else vals
        elif isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
            out = list(range(int(seeds)))
        else:
            out = [int(s) for s in cast(Sequence[int], seeds)]
    except (TypeError, ValueError, IndexError):
        out = []
    if not out or any(s < 0 for s in out) or len(set(out)) != len(out):
        raise ValueError(
            f"--seeds must be a count like 3 or distinct seeds like 0,1,2, got {seeds!r}"
        )
    return out


def _positive_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    return int(v)


def _target(o: Options, metric: str | None) -> dict[str, float] | None:
    if o.target_acc is not None and not 0 < o.target_acc <= 1:
        raise ValueError(f"--target-acc must be in (0, 1], got {o.target_acc!r}")
    if o.target_acc is not None and metric != "accuracy":
        raise ValueError("--target-acc needs a classification task (use --target-loss)")
    if o.target_loss is not None and not (math.isfinite(o.target_loss)):
        raise ValueError(f"--target-loss must be a finite number, got {o.target_loss!r}")
    if o.target_acc is None and o.target_loss is None:
        return {"acc": DEFAULT_TARGET_ACC} if metric == "accuracy" else None
    t: dict[str, float] = {}
    if o.target_acc is not None:
        t["acc"] = float(o.target_acc)
    if o.target_loss is not None:
        t["loss"] = float(o.target_loss)
    return t


def default_storage(out: str) -> str:
    """``sqlite:///<out>/lrkit.db`` with an absolute path."""
    return "sqlite:///" + os.path.abspath(os.path.join(out, "lrkit.db"))


def run_compare(o: Options, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or resume) the comparison; see :func:`_run_compare`. Torch runs on one thread
    meanwhile: the models are small, and one thread makes results independent of
    ``--jobs`` and of how busy the machine is (more threads only spin)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_compare(o, progress)
    finally:
        torch.set_num_threads(threads)


def _run_compare(o: Options, progress: Progress | None = None) -> dict[str, Any]:
    """Run (or resume) the comparison and return the report dict (``results.json``).

    Order: every input is checked first (schedules, peaks, seeds, task and data),
    then the store is opened, then the range test runs (its result is kept in
    the study, so a rerun reuses it), then the runs not yet stored are trained,
    chunk by chunk, each chunk stored as soon as it is done. The report is built
    from what the store holds.
    """
    progress = progress or Progress()
    clock = _Clock()
    mode, peak_vals = parse_peaks(o.peaks)
    cands = parse_candidates(list(o.schedules), rescale=mode != "spec")
    seeds = parse_seeds(o.seeds)
    batch = _positive_int("--batch-size", o.batch_size)
    jobs = _positive_int("--jobs", o.jobs)
    chunk = _positive_int("--chunk-size", o.chunk_size)
    if o.epochs is not None and o.steps is not None:
        raise ValueError("give --epochs or --steps, not both")
    epochs = _positive_int("--epochs", o.epochs) if o.epochs is not None else None
    ref = TaskRef.of(o.task, o.data, o.target)
    task = ref.load()
    from .trainer import _check_opt, steps_per_epoch

    _check_opt(o.optimizer, o.momentum, o.weight_decay)
    spe = steps_per_epoch(task, batch)
    n = (_positive_int("--steps", o.steps) if o.steps is not None
         else (epochs or DEFAULT_EPOCHS) * spe)
    for c in cands:  # a spec that does not fit N fails now, before anything is stored
        c.at(n, None if mode == "spec" else 1.0)
    target = _target(o, task.metric)
    config = {"task": ref.ident(), "steps": n, "batch_size": batch, "optimizer": o.optimizer,
              "momentum": float(o.momentum), "nesterov": bool(o.nesterov),
              "weight_decay": float(o.weight_decay)}
    train_kw = {"steps": n, "batch_size": batch, "optimizer": o.optimizer,
                "momentum": o.momentum, "nesterov": o.nesterov, "weight_decay": o.weight_decay}

    from .store import Store

    url = o.storage
    if url is None:
        os.makedirs(o.out, exist_ok=True)
        url = default_storage(o.out)
    store = Store(url, o.study)
    clock.lap("setup")
    pool = make_pool(jobs, _preload(ref)) if jobs > 1 else None
    try:
        lr_find = None
        peaks: list[float | None]
        if mode == "auto":
            with _user_code(ref):
                lr_find = range_test(task, config, seeds, store, progress)
            peaks = [round_sig(lr_find["suggestion"] * f) for f in peak_vals]
            clock.lap("range test")
        elif mode == "fixed":
            peaks = list(peak_vals)
        else:
            peaks = [None]
        done = store.load()
        labels = [c.label for c in cands]
        planned: list[Planned] = []
        stage, new = 0, list(peaks)
        writer = store.writer()

        def on_done(runs: Sequence[Planned], results: list[Result]) -> None:
            for p, res in zip(runs, results):
                if p.key not in done:
                    writer.put(_meta(p, task.name, config), res)
                    done[p.key] = res

        try:
            while new:
                grid = plan(cands, new, seeds, n, config)
                planned += grid
                todo = [c for c in chunked(grid, chunk) if any(p.key not in done for p in c)]
                stored = len({p.key for p in grid} & set(done))
                if stored:
                    progress.note(f"resuming: {stored} of {len({p.key for p in grid})} runs "
                                  f"{'at peaks ' + _peaks_text(new) + ' ' if stage else ''}"
                                  f"already stored in {url}")
                name = "training" if stage == 0 else f"peak {_peaks_text(new)}"
                advance = _per_run(progress.phase(name, sum(len(c) for c in todo)), n)
                with _user_code(ref):
                    run_grid(ref, todo, train_kw, on_done, jobs=jobs, progress=advance,
                             pool=pool)
                stage += 1
                more = (extend_peaks(summarize(planned, done, labels, target), peaks)
                        if mode == "auto" and stage <= MAX_EXTEND else [])
                new = [p for p in more]
                peaks += new
            clock.lap("training")
        finally:
            writer.close()  # what finished is stored, even if a later chunk failed
        clock.lap("storing (after training)")
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    results = store.load()
    rows = summarize(planned, results, labels, target)
    clock.lap("summary")
    return {
        "lrkit": lrkit.__version__,
        "command": o.command,
        "task": {"name": task.name, "description": task.description, "loss": task.loss,
                 "metric": task.metric, "id": config["task"]},
        "config": {**{k: v for k, v in config.items() if k != "task"},
                   "epochs": n / spe, "steps_per_epoch": spe, "seeds": seeds,
                   "peak_mode": mode, "peaks": sorted(p for p in peaks if p is not None),
                   "peak_extensions": stage - 1,
                   "chunk_size": chunk, "study": o.study},
        "target": target,
        "lr_find": None if lr_find is None else {
            k: lr_find[k] for k in ("suggestion", "method", "suggestions", "seeds")},
        "definitions": _definitions(),
        "order": labels,
        "schedules": rows,
        # not part of results.json (the CLI pops them): the range-test curve, timings
        "_lr_find": lr_find,
        "_timing": {**clock.laps, "runs": len(planned)},
    }


class _Clock:
    """Wall-time laps: ``lap(name)`` books the time since the last lap under ``name``."""

    def __init__(self) -> None:
        import time

        self.now = time.perf_counter
        self.last = self.now()
        self.laps: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.laps[name] = self.laps.get(name, 0.0) + seconds

    def lap(self, name: str, minus: str | None = None) -> None:
        t = self.now()
        self.add(name, t - self.last - (self.laps.get(minus, 0.0) if minus else 0.0))
        self.last = t


def range_test(task: Any, config: dict[str, Any], seeds: Sequence[int], store: Any,
               progress: Progress) -> dict[str, Any]:
    """The range test for ``--peaks auto``, run once per task and training config and
    kept in the study (a rerun reuses it, so a resumed comparison tries the same peaks)."""
    seeds = list(seeds)[:3]
    setup = {k: v for k, v in config.items() if k != "steps"}  # the sweep has its own length
    name = "lr_find:" + hashlib.sha256(
        json.dumps({"config": setup, "seeds": seeds, "recipe": RECIPE}, sort_keys=True).encode()
    ).hexdigest()[:16]
    cached = store.get_note(name)
    if isinstance(cached, dict) and "suggestion" in cached:
        return cached
    import inspect

    from .lr_find import find_lr_task

    kw: dict[str, Any] = {"seeds": seeds, "batch_size": config["batch_size"], **RANGE_TEST}
    accepted = inspect.signature(find_lr_task).parameters
    for k in ("optimizer", "momentum", "nesterov", "weight_decay"):
        if k in accepted:
            kw[k] = config[k]
    if "progress" in accepted:
        kw["progress"] = steps_progress(progress, "range test")
    res = find_lr_task(task, **kw)
    sugg = float(res.suggestion)
    if not (math.isfinite(sugg) and sugg > 0):
        raise ValueError(f"the range test found no usable learning rate (got {sugg!r}); "
                         "give --peaks explicitly")
    out = {**res.to_dict(), "seeds": seeds}
    store.set_note(name, out)
    return out


def lr_find_result(d: dict[str, Any]) -> Any:
    """An ``LRFindResult`` back from its ``to_dict()`` (as kept in the study)."""
    from .lr_find import LRFindResult

    return LRFindResult(
        _arr(d["lrs"]), _arr(d["losses"]), _arr(d["smoothed"]), float(d["suggestion"]),
        {k: (math.nan if v is None else float(v)) for k, v in d["suggestions"].items()},
        d.get("method", "valley"), bool(d.get("diverged")),
        [lr_find_result(p) for p in d.get("per_seed", [])],
    )


def _per_run(advance: Callable[[float], None], steps: int) -> Callable[[int], None]:
    """Run-steps -> runs (the training bars count runs)."""
    return lambda k: advance(k / steps)


def steps_progress(progress: Progress, name: str) -> Callable[[int, int], None]:
    state: dict[str, Any] = {}

    def cb(step: int, total: int) -> None:
        if "advance" not in state:
            state["advance"], state["last"] = progress.phase(name, total), 0
        state["advance"](step - state["last"])
        state["last"] = step

    return cb


def extend_peaks(rows: Sequence[dict[str, Any]], peaks: Sequence[float | None]) -> list[float]:
    """``--peaks auto``'s extension: if some schedule's best peak is the largest (smallest)
    peak tried, the next one up (down) by ``EXTEND_FACTOR``, for every schedule alike.

    >>> extend_peaks([{"best_peak": 0.3}, {"best_peak": 0.1}], [0.075, 0.15, 0.3])
    [0.6]
    """
    vals = sorted(p for p in peaks if p is not None)
    if len(vals) < 2:
        return []
    step = EXTEND_FACTOR
    best = {r["best_peak"] for r in rows}
    new = []
    if vals[-1] in best:
        new.append(round_sig(vals[-1] * step))
    if vals[0] in best:
        new.append(round_sig(vals[0] / step))
    return new


def _peaks_text(peaks: Sequence[float | None]) -> str:
    return ", ".join(f"{p:.3g}" for p in peaks if p is not None)


def _definitions() -> dict[str, str]:
    from .report import CI_DEFINITION, OSC_DEFINITION

    return {"oscillation": OSC_DEFINITION, "interval": CI_DEFINITION,
            "best_peak": "the peak with the lowest mean final validation loss over seeds "
                         "(a peak where any seed diverged never wins)",
            "steps_to_target": "first evaluation step meeting the target, lower median over "
                               "seeds (null unless at least half of the seeds reach it)"}


def _meta(p: Planned, task: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"key": p.key, "label": p.label, "schedule": repr(p.schedule), "peak": p.peak,
            "seed": p.seed, "task_name": task, **config}
