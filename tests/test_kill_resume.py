"""SIGKILL a real ``lrkit compare`` mid-run: nothing finished is lost, and the rerun's report
equals an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from lrkit.cli import run
from lrkit.experiment.store import Store

GRID = ["-s", "cosine", "-s", "constant", "--steps", "150", "--seeds", "3", "--peaks", "0.05",
        "--chunk-size", "1", "-q"]
RUNS = 6  # 2 schedules x 1 peak x 3 seeds, one chunk each


def _complete(db) -> int:
    if not os.path.exists(db):
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # the tables are not created yet
        return 0


def test_sigkill_mid_run_loses_nothing_and_resume_equals_uninterrupted(tmp_path):
    db = tmp_path / "kill.db"
    url = f"sqlite:///{db}"
    argv = ["compare", *GRID, "--out", str(tmp_path / "killed"), "--storage", url]
    proc = subprocess.Popen([sys.executable, "-m", "lrkit", *argv], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        seen = 0
        while seen < 1:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "no run was stored within 90 s"
            time.sleep(0.02)
            seen = _complete(db)
        os.killpg(proc.pid, signal.SIGKILL)  # the compare and anything it started
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    after = _complete(db)
    assert seen <= after < RUNS, f"killed too late to test anything ({after} of {RUNS} stored)"
    kept = Store(url).load()
    assert len(kept) == after  # every stored trial is a whole, readable run
    assert all(r["val_loss"][-1] is not None for r in kept.values())
    assert not (tmp_path / "killed" / "results.json").exists()

    assert run(argv) == 0  # the same command again: resumes
    assert _complete(db) == RUNS  # the finished runs were not trained or stored twice
    assert {k: Store(url).load()[k] for k in kept} == kept  # and were not touched

    fresh = ["compare", *GRID, "--out", str(tmp_path / "fresh")]
    assert run(fresh) == 0
    resumed = json.loads((tmp_path / "killed" / "results.json").read_text())
    uninterrupted = json.loads((tmp_path / "fresh" / "results.json").read_text())
    assert resumed == uninterrupted
