"""Durable before counted (issue 9, class 5): SIGKILL a real single-machine ``lrkit compare``
(SQLite) at random moments, 20 times over: every run the process reported stored (its
``stored R runs (T in the store)`` lines) is in the store, a chunk is stored whole or not at
all, and no rerun trains a run that is stored already."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

from lrkit.experiment.store import ATTR, Store

KILLS = 20
GRID = ["--task", "noisy-quadratic", "-s", "constant", "-s", "cosine", "-s", "wsd",
        "--seeds", "3", "--peaks", "0.03,0.1,0.3", "--epochs", "12", "--chunk-size", "3"]
RUNS = 27  # 3 schedules x 3 peaks x 3 seeds, 9 chunks of 3
LINE = re.compile(r"stored (\d+)(?: of (\d+))? runs \((\d+) in the store\)")


def _records(url: str) -> list[str]:
    st = Store(url)
    return [t.user_attrs[ATTR]["key"] for t in st.study.get_trials(deepcopy=False)
            if ATTR in t.user_attrs]


def _start(argv: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "lrkit", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def test_twenty_sigkills_lose_no_reported_run_and_retrain_none(tmp_path):
    rng = random.Random(9)
    kills = lost = retrained = killed_while_storing = grids = 0
    out, url = "", ""
    while kills < KILLS:
        if not url:  # a fresh grid (the previous one was finished)
            grids += 1
            out = str(tmp_path / f"g{grids}")
            url = f"sqlite:///{out}/lrkit.db"
        before = len(_records(url)) if os.path.exists(out + "/lrkit.db") else 0
        proc, lines = _start(["compare", *GRID, "--out", out])
        mode = rng.random()
        deadline = time.monotonic() + 120
        if mode < 0.15:  # anywhere in the start-up
            time.sleep(rng.uniform(0, 2.0))
        else:  # while chunks train and are stored: after k stored lines and a bit
            k = rng.randrange(0, 3)
            while sum("stored" in x for x in lines) < k and proc.poll() is None:
                assert time.monotonic() < deadline, "".join(lines)[-2000:]
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.2))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        time.sleep(0.05)  # the reader thread drains the pipe
        if proc.returncode == 0:
            url = ""  # the grid finished before the kill: start another
            continue
        assert proc.returncode == -signal.SIGKILL, "".join(lines)[-2000:]
        kills += 1
        reported = [LINE.search(x) for x in lines if LINE.search(x)]
        keys = _records(url) if os.path.exists(out + "/lrkit.db") else []
        assert len(keys) == len(set(keys)), "a run was stored twice"
        last = int(reported[-1].group(3)) if reported else before
        lost += max(0, last - len(keys))
        retrained += sum(int(m.group(2)) - int(m.group(1)) for m in reported if m.group(2))
        assert len(keys) % 3 == 0, f"a chunk was stored in part: {len(keys)} runs"
        killed_while_storing += len(keys) > last  # committed, killed before the line
    assert lost == 0 and retrained == 0
    # the last grid resumes to the end: every run once, none trained again
    proc, lines = _start(["compare", *GRID, "--out", out])
    assert proc.wait(timeout=300) == 0, "".join(lines)[-2000:]
    time.sleep(0.05)
    keys = _records(url)
    assert sorted(set(keys)) == sorted(keys) and len(keys) == RUNS
    assert not any(m.group(2) for x in lines if (m := LINE.search(x)))
    print(f"kills {kills}, grids {grids}, lost {lost}, retrained {retrained}, "
          f"committed-but-not-yet-reported {killed_while_storing}")
