"""Bad input to the distributed commands: one line on stderr, exit 2, nothing written to the
store (a real PostgreSQL server, real journal files)."""

from __future__ import annotations

import os
import socket

import optuna
import pytest

from lrkit.cli import run
from lrkit.experiment.queue import queue_name

GRID = ["--task", "noisy-quadratic", "-s", "constant", "--seeds", "2", "--peaks", "0.1",
        "--epochs", "1", "-q"]


def _one_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("lrkit: error: "), err
    for w in words:
        assert w in err, err
    return err


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("cmd", [["compare", *GRID, "--no-train"], ["worker"], ["status"],
                                 ["report"]])
def test_connection_refused(cmd, capsys):
    url = f"postgresql://postgres:pw@127.0.0.1:{_free_port()}/db"
    assert run([*cmd, "--storage", url]) == 2
    _one_error(capsys, "cannot be opened", "postgres:***@")


@pytest.mark.parametrize("cmd", [["compare", *GRID, "--no-train"], ["worker"]])
def test_wrong_password(cmd, pg_cluster, capsys):
    assert run([*cmd, "--storage", pg_cluster.url(password="x")]) == 2
    _one_error(capsys, "password authentication failed")


@pytest.mark.parametrize("url", ["mysql://u:p@h/db", "postgresql+psycopg2x://u:p@h/db",
                                 "redis://h/0", "journal://relative.log"])
def test_unknown_driver_or_form(url, capsys, tmp_path):
    os.chdir(tmp_path)
    assert run(["compare", *GRID, "--storage", url, "--no-train"]) == 2
    _one_error(capsys, "--storage")
    assert os.listdir(tmp_path) == []


def test_unknown_study_and_different_grid_write_nothing(pg_url, capsys, tmp_path):
    assert run(["compare", *GRID, "--storage", pg_url, "--study", "s", "--no-train"]) == 0
    capsys.readouterr()
    storage = optuna.storages.RDBStorage(pg_url)
    before = sorted(optuna.get_all_study_names(storage))
    q = optuna.load_study(storage=storage, study_name=queue_name("s"))
    grid, n = q.user_attrs["grid"], len(q.trials)
    for cmd in (["worker"], ["report", "--out", str(tmp_path / "r")], ["status"]):
        assert run([*cmd, "--storage", pg_url, "--study", "nope"]) == 2
        _one_error(capsys, "'nope'", "no such comparison", "there: s")
    assert not (tmp_path / "r").exists()
    other = [*GRID[:-5], "--seeds", "3", *GRID[-3:]]  # 3 seeds instead of 2
    assert run(["compare", *other, "--storage", pg_url, "--study", "s", "--no-train"]) == 2
    _one_error(capsys, "holds a different comparison", "seeds: [0, 1] there, [0, 1, 2] here")
    assert sorted(optuna.get_all_study_names(storage)) == before
    q = optuna.load_study(storage=storage, study_name=queue_name("s"))
    assert q.user_attrs["grid"] == grid and len(q.trials) == n


def test_worker_before_any_comparison(pg_url, tmp_path, capsys):
    log = tmp_path / "j.log"
    assert run(["worker", "--storage", f"journal://{log}"]) == 2
    _one_error(capsys, "holds no comparison yet")
    assert not log.exists()
    assert run(["worker", "--storage", pg_url]) == 2
    _one_error(capsys, "holds 0 comparisons")
    assert optuna.get_all_study_names(pg_url) == []


def test_options_that_need_a_shared_storage(tmp_path, capsys):
    assert run(["compare", *GRID, "--no-train", "--out", str(tmp_path)]) == 2
    _one_error(capsys, "--no-train needs a shared --storage")
    url = f"journal://{tmp_path}/j.log"
    assert run(["compare", *GRID, "--storage", url, "--lease", "0"]) == 2
    _one_error(capsys, "--lease must be a positive number")
    assert run(["compare", *GRID, "--storage", url, "--jobs", "2"]) == 2
    _one_error(capsys, "--jobs with a shared --storage")
    assert not (tmp_path / "j.log").exists()
