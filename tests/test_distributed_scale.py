"""Scale: 16 real worker processes on one PostgreSQL study, 2,000 runs of a trivial task
(2 optimizer steps of noisy-quadratic, a few ms a run): zero duplicates, zero missing."""

from __future__ import annotations

import time

from distributed_helpers import Proc
from lrkit.cli import run
from lrkit.experiment.distributed import status

WORKERS = 16
PEAKS = ",".join(f"{0.01 * (i + 1):.2f}" for i in range(20))
GRID = ["--task", "noisy-quadratic", "-s", "constant", "-s", "cosine", "-s", "wsd", "-s",
        "one-cycle", "-s", "exponential", "--seeds", "20", "--peaks", PEAKS, "--steps", "2",
        "--chunk-size", "4"]
RUNS = 5 * 20 * 20


def test_sixteen_workers_two_thousand_runs(pg_url, tmp_path):
    assert run(["compare", *GRID, "--storage", pg_url, "--study", "big", "--no-train",
                "-q"]) == 0
    t0 = time.monotonic()
    workers = [Proc("worker", "--storage", pg_url, "--study", "big", "--out",
                    str(tmp_path / f"w{i}"), "-q") for i in range(WORKERS)]
    for w in workers:
        assert w.wait(timeout=600) == 0, w.text()[-3000:]
    wall = time.monotonic() - t0
    st = status(pg_url, "big")
    assert st["done"]
    assert st["runs"]["planned"] == st["runs"]["stored"] == RUNS  # zero missing
    assert st["runs"]["duplicates"] == 0  # zero stored twice
    assert st["items"] == {"complete": RUNS // 4 + 1}  # every chunk (and the plan) claimed once
    assert len(st["workers"]) >= 2
    print(f"{WORKERS} workers, {RUNS} runs, {RUNS // 4} chunks in {wall:.1f} s; by worker: "
          + ", ".join(str(d["done"]) for d in st["workers"].values()))
