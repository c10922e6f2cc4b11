"""Real faults for the fault-injection tests: read-only folders, a full disk.

* :func:`read_only` makes a folder read-only for real: as root (whom permissions do not
  stop) a read-only bind mount of it; otherwise ``chmod a-w``.
* :func:`small_disk` mounts a tmpfs of a few kilobytes (root only; the test is skipped
  where mounting is not allowed), on which writes fail with ``ENOSPC``.
* :func:`capped_pages_code` is Python that caps every SQLite connection of the process at
  its database's current size (``PRAGMA max_page_count``), so that the next write that
  needs a new page fails with SQLite's "database or disk is full", before it runs the
  command line: a store whose writes fail after the runs it holds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = os.geteuid() == 0


def _mount(*args: str) -> bool:
    return shutil.which("mount") is not None and subprocess.run(
        ["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` (with what it holds) read-only for the duration: writes fail with
    ``EROFS`` (root, a bind mount) or ``EACCES`` (``chmod``)."""
    if ROOT:
        if not (_mount("--bind", str(folder), str(folder))
                and _mount("-o", "remount,bind,ro", str(folder))):
            subprocess.run(["umount", str(folder)], capture_output=True)
            pytest.skip("cannot bind-mount a folder read-only here")
        try:
            yield folder
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
    for p in modes:
        p.chmod(modes[p] & ~0o222)
    try:
        yield folder
    finally:
        for p, m in modes.items():
            p.chmod(m)


@contextlib.contextmanager
def small_disk(folder: Path, kilobytes: int) -> Iterator[Path]:
    """A tmpfs of ``kilobytes`` mounted on ``folder`` (skips the test where it cannot be)."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (ROOT and _mount("-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder))):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def capped_pages_code(argv: list[str]) -> str:
    """Python source that caps SQLite's pages, then runs ``lrkit`` with ``argv``."""
    return (
        "import sys\n"
        "from sqlalchemy import event\n"
        "from sqlalchemy.engine import Engine\n"
        "@event.listens_for(Engine, 'connect')\n"
        "def cap(con, record):\n"
        "    if 'sqlite' in type(con).__module__:\n"
        "        pages = con.execute('PRAGMA page_count').fetchone()[0]\n"
        "        con.execute(f'PRAGMA max_page_count = {max(pages, 1)}')\n"
        "from lrkit.cli import run\n"
        f"sys.exit(run({argv!r}))\n"
    )
