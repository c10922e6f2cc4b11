"""Helpers for the distributed tests: real ``lrkit`` subprocesses and their stderr lines."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

STORED = re.compile(r"stored (\d+)(?: of (\d+))? runs \(chunk [^)]*\)")


class Proc:
    """``python -m lrkit ARGS`` in its own session, its stderr collected line by line."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "COLUMNS": "200"}
        self.p = subprocess.Popen([sys.executable, "-m", "lrkit", *args],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  env=env, start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.p.stderr is not None
        for line in self.p.stderr:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, word: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(word in x for x in self.lines):
            assert self.p.poll() is None, f"exited {self.p.returncode}:\n{self.text()[-3000:]}"
            assert time.monotonic() < deadline, f"no {word!r} in {timeout} s:\n{self.text()}"
            time.sleep(0.01)

    def kill(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
        self.p.wait(timeout=60)
        self.reader.join(timeout=10)

    def wait(self, timeout: float = 300) -> int:
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout} s:\n{self.text()[-3000:]}") \
                from None
        self.reader.join(timeout=10)
        return rc

    def retrained(self) -> int:
        """Runs this process trained although they were stored already."""
        return sum(int(m.group(2)) - int(m.group(1)) for x in self.lines
                   if (m := STORED.search(x)) and m.group(2))


def schedules(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["schedules"]


def reports(*outs: Path) -> list[Path]:
    return [o for o in outs if (o / "results.json").exists()]
