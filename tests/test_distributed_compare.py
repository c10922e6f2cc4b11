"""A comparison shared by real worker processes on a real PostgreSQL server and on journal
files: every run trained to completion once, SIGKILLed workers (and coordinators) lose
nothing, and the report equals a one-process SQLite comparison's."""

from __future__ import annotations

import optuna
import pytest

from distributed_helpers import Proc, reports, schedules
from lrkit.cli import run
from lrkit.experiment.distributed import status

GRID = ["--task", "noisy-quadratic", "-s", "constant", "-s", "cosine", "-s", "wsd",
        "--seeds", "2", "--peaks", "0.03,0.1,0.3", "--epochs", "20", "--chunk-size", "2"]
RUNS = 18  # 3 schedules x 3 peaks x 2 seeds: 9 chunks
AUTO = ["--task", "noisy-quadratic", "-s", "constant", "-s", "cosine", "--seeds", "2",
        "--peaks", "auto", "--epochs", "6", "--chunk-size", "4"]
LEASE = ["--lease", "2"]


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """The same grids in one process on SQLite."""
    out = {}
    for name, grid in (("grid", GRID), ("auto", AUTO)):
        d = tmp_path_factory.mktemp(name)
        assert run(["compare", *grid, "--out", str(d), "-q"]) == 0
        out[name] = schedules(d)
    return out


def _journal(tmp_path):
    return f"journal://{tmp_path}/lrkit.log"


def _kill_a_worker(url, tmp_path, alone_rows):
    assert run(["compare", *GRID, "--storage", url, "--study", "s", "--no-train", "-q"]) == 0
    outs = [tmp_path / f"w{i}" for i in range(3)]
    victim = Proc("worker", "--storage", url, "--study", "s", "--out", str(outs[0]), *LEASE)
    victim.wait_for("training chunk")  # mid-chunk: claimed, not stored
    victim.kill()
    assert victim.p.returncode == -9
    others = [Proc("worker", "--storage", url, "--study", "s", "--out", str(o), *LEASE)
              for o in outs[1:]]
    for w in others:
        assert w.wait() == 0, w.text()[-3000:]
    st = status(url, "s")
    assert st["done"] and st["runs"]["stored"] == st["runs"]["planned"] == RUNS
    assert st["runs"]["duplicates"] == 0 and st["stale"] >= 1  # the victim's chunk came back
    assert sum(w.retrained() for w in others) == 0
    written = reports(*outs[1:])
    assert len(written) >= 1 and all(schedules(o) == alone_rows for o in written)


def test_postgres_sigkill_a_worker_mid_chunk(pg_url, tmp_path, alone):
    _kill_a_worker(pg_url, tmp_path, alone["grid"])


def test_journal_sigkill_a_worker_mid_chunk(tmp_path, alone):
    _kill_a_worker(_journal(tmp_path), tmp_path, alone["grid"])


def _kill_the_coordinator(url, tmp_path, alone_rows):
    coord = Proc("compare", *AUTO, "--storage", url, "--study", "a", "--out",
                 str(tmp_path / "c"), *LEASE)
    coord.wait_for("training chunk")  # it ran the range test, planned and claimed a chunk
    workers = [Proc("worker", "--storage", url, "--study", "a", "--out", str(tmp_path / f"w{i}"),
                    *LEASE) for i in range(2)]
    coord.kill()
    for w in workers:
        assert w.wait() == 0, w.text()[-3000:]
    st = status(url, "a")
    assert st["done"] and st["runs"]["stored"] == st["runs"]["planned"]
    assert st["runs"]["duplicates"] == 0 and st["stale"] >= 1
    assert sum(w.retrained() for w in workers) == 0
    assert not (tmp_path / "c" / "results.json").exists()
    written = reports(tmp_path / "w0", tmp_path / "w1")
    assert len(written) >= 1 and all(schedules(o) == alone_rows for o in written)
    # lrkit report renders the same from the store
    assert run(["report", "--storage", url, "--study", "a", "--out", str(tmp_path / "r"),
                "-q"]) == 0
    assert schedules(tmp_path / "r") == alone_rows


def test_postgres_sigkill_the_coordinator(pg_url, tmp_path, alone):
    _kill_the_coordinator(pg_url, tmp_path, alone["auto"])


def test_journal_sigkill_the_coordinator(tmp_path, alone):
    _kill_the_coordinator(_journal(tmp_path), tmp_path, alone["auto"])


@pytest.mark.filterwarnings("error:No artists with labels")  # no legend before any run
def test_report_while_under_way_marks_missing(pg_url, tmp_path):
    assert run(["compare", *GRID, "--storage", pg_url, "--study", "u", "--no-train",
                "-q"]) == 0
    assert run(["report", "--storage", pg_url, "--study", "u", "--out", str(tmp_path),
                "-q"]) == 0  # nothing planned yet: an empty report
    import json

    rep = json.loads((tmp_path / "results.json").read_text())
    assert rep["complete"] is False and rep["schedules"] == []
    st = status(pg_url, "u")
    assert st["runs"] == {"planned": 0, "stored": 0, "claimed": 0, "waiting": 0,
                          "duplicates": 0} and st["items"] == {"waiting": 1}
    names = optuna.get_all_study_names(pg_url)
    assert sorted(names) == ["u", "u/queue"]


@pytest.mark.slow
def test_postgres_default_grid_four_workers_and_the_coordinator(pg_url, tmp_path):
    """The issue's test: the default grid (7 schedules, --peaks auto, the default seeds),
    --epochs 1, on 4 workers plus the coordinator: every run once, the report equals a
    one-process SQLite run's."""
    grid = ["--epochs", "1"]
    assert run(["compare", *grid, "--out", str(tmp_path / "alone"), "-q"]) == 0
    coord = Proc("compare", *grid, "--storage", pg_url, "--study", "d", "--out",
                 str(tmp_path / "c"))
    coord.wait_for("comparison 'd'")  # a worker started before the comparison is refused
    workers = [Proc("worker", "--storage", pg_url, "--study", "d", "--out",
                    str(tmp_path / f"w{i}"), "-q") for i in range(4)]
    for p in (coord, *workers):
        assert p.wait() == 0, p.text()[-3000:]
    st = status(pg_url, "d")
    assert st["done"] and st["runs"]["stored"] == st["runs"]["planned"]
    assert st["runs"]["duplicates"] == 0 and st["stale"] == 0
    assert set(st["items"]) == {"complete"}  # no item claimed twice
    assert schedules(tmp_path / "c") == schedules(tmp_path / "alone")
