"""``lrkit compare --jobs 2`` trains chunks on worker threads: nothing outlives the command."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path


def _with_marker(marker: str) -> list[int]:
    """Processes whose environment holds ``marker``."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if marker.encode() in (d / "environ").read_bytes():
                found.append(int(d.name))
        except OSError:
            continue
    return found


def test_compare_with_two_jobs_leaves_no_process_behind(tmp_path):
    marker = f"LRKIT_TEST_MARKER={uuid.uuid4().hex}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1],
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent.parent / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-m", "lrkit", "compare", "-q", "-j", "2", "--chunk-size", "2",
         "-s", "constant", "-s", "cosine", "--peaks", "0.05,0.1", "--seeds", "2",
         "--steps", "4", "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "results.json").is_file()
    assert _with_marker(marker) == []


def _children() -> list[int]:
    me, out = os.getpid(), []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.append(int(d.name))
    return out


def test_run_compare_with_two_jobs_starts_no_process_and_no_thread_stays(tmp_path):
    """In-process (the API): no child process (a forkserver used to stay for the life of
    the caller) and the worker threads are gone when run_compare returns."""
    import threading

    from lrkit.experiment.compare import Options, run_compare

    before = _children()
    res = run_compare(Options(schedules=["constant", "cosine"], peaks="0.05,0.1", seeds=2,
                              steps=4, jobs=2, chunk_size=2, out=str(tmp_path)))
    assert len(res.rows) == 2
    assert _children() == before
    assert not [t for t in threading.enumerate() if t.name.startswith("lrkit-chunk")]
