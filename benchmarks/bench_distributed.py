"""Distributed compare on PostgreSQL: claims per second, coordination overhead, store writes.

    python benchmarks/bench_distributed.py [--workers 1,2,4,8,16] [--claims 400]
                                           [--epochs 1] [--skip-overhead]

Starts a throwaway PostgreSQL server (``tests/postgres.py``: ``initdb`` + ``pg_ctl``, on
127.0.0.1, fsync off) and measures, in one run:

1. **Claims per second** with 1, 2, 4, 8, 16 ``lrkit worker`` processes on one study of a
   trivial task (noisy-quadratic, 2 optimizer steps a run, one run per chunk, so one claim
   per run): the number of chunk items over the time from the first claim to the last
   completion, read from the queue's own trial timestamps (so worker start-up, importing
   torch, is not counted).
2. **Coordination overhead** on the default grid (the 7 default schedules, ``--peaks
   auto`` with its range test and extensions, the default task and seeds; ``--epochs``
   shortened): wall time of ``lrkit compare --storage postgresql://...`` plus one ``lrkit
   worker`` (2 training processes) against the same grid in one process on SQLite
   (``--jobs 1``), and the machine's parallel speed-up for this work, measured as
   ``T(SQLite, --jobs 1) / T(SQLite, --jobs 2)`` in the same run. The overhead ratio is
   ``T(PostgreSQL, 2 processes) / (T(SQLite, 1 process) / speed-up)``: 1.0 means the two
   workers are as fast as the machine allows.
3. **Store writes per run vs training per run** on the default task: inside one
   process, the time in ``Store.put_many`` (one transaction per chunk) over the runs
   stored, against the training time per run, on SQLite and on PostgreSQL.

Prints one table per part.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from postgres import Cluster, bindir  # noqa: E402

PY = [sys.executable, "-m", "lrkit"]


def lrkit(*args: str, wait: bool = True) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    p = subprocess.Popen([*PY, *args], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    if wait:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"lrkit {' '.join(args)} failed:\n{err.decode()[-2000:]}")
    return p


def claims_per_second(cluster: Cluster, workers: int, claims: int) -> tuple[float, float]:
    import optuna

    url = cluster.database()
    peaks = ",".join(f"{0.01 * (i + 1):.2f}" for i in range(20))
    seeds = max(1, claims // 100)
    lrkit("compare", "--task", "noisy-quadratic", "-s", "constant", "-s", "cosine", "-s",
          "wsd", "-s", "one-cycle", "-s", "exponential", "--seeds", str(seeds), "--peaks",
          peaks, "--steps", "2", "--chunk-size", "1", "--storage", url, "--study", "b",
          "--no-train", "-q")
    with tempfile.TemporaryDirectory() as d:
        procs = [lrkit("worker", "--storage", url, "--study", "b", "--out", f"{d}/w{i}", "-q",
                       wait=False) for i in range(workers)]
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise SystemExit(err.decode()[-2000:])
    q = optuna.load_study(storage=url, study_name="b/queue")
    items = [t for t in q.trials if t.user_attrs["work"]["kind"] == "chunk"
             and t.state == optuna.trial.TrialState.COMPLETE]
    start = min(t.datetime_start for t in items)
    end = max(t.datetime_complete for t in items)
    span = (end - start).total_seconds()
    return len(items) / span, span


def timed(*args: str) -> float:
    t = time.perf_counter()
    lrkit(*args)
    return time.perf_counter() - t


def overhead(cluster: Cluster, epochs: str) -> dict[str, float]:
    grid = ["--epochs", epochs, "-q"]
    with tempfile.TemporaryDirectory() as d:
        one = timed("compare", *grid, "--out", f"{d}/one")
        two = timed("compare", *grid, "--jobs", "2", "--out", f"{d}/two")
        url = cluster.database()
        t = time.perf_counter()
        coord = lrkit("compare", *grid, "--storage", url, "--study", "o", "--out", f"{d}/pg",
                      wait=False)
        time.sleep(0.5)
        worker = lrkit("worker", "--storage", url, "--study", "o", "--out", f"{d}/pgw", "-q",
                       wait=False)
        for p in (coord, worker):
            _, err = p.communicate()
            if p.returncode != 0:
                raise SystemExit(err.decode()[-2000:])
        pg = time.perf_counter() - t
    speedup = one / two
    return {"sqlite_1": one, "sqlite_jobs2": two, "speedup": speedup, "pg_2": pg,
            "ratio": pg / (one / speedup)}


def store_share(url: str, epochs: int) -> tuple[float, float, int]:
    """Seconds in Store.put_many per run, training seconds per run, runs (one process)."""
    import torch

    from lrkit.experiment import store as store_mod
    from lrkit.experiment.compare import Options, run_compare

    spent = [0.0, 0]
    orig = store_mod.Store.put_many

    def timed_put(self: store_mod.Store, runs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        orig(self, runs)
        spent[0] += time.perf_counter() - t
        spent[1] += len(runs)

    store_mod.Store.put_many = timed_put  # type: ignore[method-assign]
    try:
        torch.set_num_threads(1)
        with tempfile.TemporaryDirectory() as d:
            res = run_compare(Options(epochs=epochs, peaks="0.03,0.1,0.3", out=d, storage=url))
    finally:
        store_mod.Store.put_many = orig  # type: ignore[method-assign]
    train = res.timing["training"] - spent[0]
    return spent[0] / spent[1], train / spent[1], int(spent[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default="1,2,4,8,16")
    ap.add_argument("--claims", type=int, default=400)
    ap.add_argument("--epochs", default="1")
    ap.add_argument("--skip-overhead", action="store_true")
    a = ap.parse_args()
    where = bindir()
    if where is None:
        raise SystemExit("PostgreSQL's server programs are missing (apt-get install postgresql)")
    cluster = Cluster(where)
    try:
        print(f"1. claims per second (trivial task, one run per claim, {a.claims} claims)")
        print(f"{'workers':>8} {'claims/s':>9} {'span s':>7} {'vs 1 worker':>12}")
        base = None
        for n in (int(x) for x in a.workers.split(",")):
            rate, span = claims_per_second(cluster, n, a.claims)
            base = base or rate
            print(f"{n:>8} {rate:>9.1f} {span:>7.1f} {rate / base:>11.2f}x")
        if not a.skip_overhead:
            o = overhead(cluster, a.epochs)
            print(f"\n2. default grid, --epochs {a.epochs}: wall seconds")
            print(f"  SQLite 1 process --jobs 1   {o['sqlite_1']:7.1f}")
            print(f"  SQLite 1 process --jobs 2   {o['sqlite_jobs2']:7.1f}  "
                  f"(machine speed-up {o['speedup']:.2f}x)")
            print(f"  PostgreSQL compare + worker {o['pg_2']:7.1f}")
            print(f"  overhead ratio T(pg, 2) / (T(sqlite, 1) / speed-up) = {o['ratio']:.2f}")
        print(f"\n3. store writes vs training per run (default task, --epochs {a.epochs})")
        with tempfile.TemporaryDirectory() as d:
            for name, url in (("SQLite", f"sqlite:///{d}/s.db"), ("PostgreSQL",
                                                                  cluster.database())):
                put, train, runs = store_share(url, int(float(a.epochs)))
                print(f"  {name:<11} store {1000 * put:7.2f} ms/run   train {1000 * train:7.1f} "
                      f"ms/run   store/train {100 * put / train:5.2f} %   ({runs} runs)")
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
