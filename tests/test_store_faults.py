"""The store under faults (issue 9, class 6): every failure of the storage is one line,
exit 2, and what was stored stays stored; a file that is not an lrkit study is refused
before Optuna touches it (its bytes are compared before and after).

Real SQLite files, real Optuna, the real command line; the faults are real too: a foreign
database, bytes overwritten in the middle of a database, a read-only bind mount (or
``chmod``), SQLite's page limit reached by a real ``lrkit compare`` process.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys

import optuna
import pytest

import lrkit
from faults import capped_pages_code, read_only
from lrkit.cli import run
from lrkit.experiment.store import ATTR, Store

TINY = ["-s", "cosine", "-s", "constant", "--epochs", "2", "--seeds", "2", "--peaks", "0.05"]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_error(capsys, code):
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrkit: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    """A folder with ``lrkit.db`` holding a finished tiny comparison (4 runs)."""
    d = tmp_path_factory.mktemp("stored")
    assert run(["compare", *TINY, "--out", str(d), "-q"]) == 0
    return d


def copy_db(populated, folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lrkit.db").write_bytes((populated / "lrkit.db").read_bytes())
    return folder / "lrkit.db"


def stored(db):
    return Store(f"sqlite:///{db}").load()


def refused_untouched(capsys, db):
    """The one line with which ``lrkit compare --out <db's folder>`` refuses ``db``,
    checking that the file's bytes did not change."""
    before = digest(db)
    line = one_line_error(capsys, run(["compare", *TINY, "--out", str(db.parent), "-q"]))
    assert digest(db) == before
    return line


# -- refused before anything is written ---------------------------------------------------
def test_a_foreign_sqlite_file_at_lrkit_db_is_refused_untouched(tmp_path, capsys):
    db = tmp_path / "lrkit.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    con.execute("INSERT INTO invoices (total) VALUES (12.5)")
    con.commit()
    con.close()
    assert refused_untouched(capsys, db) == (
        f"lrkit: error: --storage 'sqlite:///{db}': '{db}' is an SQLite database but not an "
        "Optuna storage (its tables: 'invoices'); lrkit leaves it untouched: give another file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lrkit.db"]  # no report either


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path, capsys):
    db = tmp_path / "lrkit.db"
    db.write_text("name,total\nalice,12.5\n")
    assert refused_untouched(capsys, db).endswith(
        "is not an SQLite database (it does not start with SQLite's header); lrkit leaves it "
        "untouched: give another file")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", " sqlite:// "])
def test_in_memory_sqlite_is_refused(tmp_path, capsys, url):
    code = run(["compare", *TINY, "--out", str(tmp_path), "--storage", url, "-q"])
    assert one_line_error(capsys, code) == (
        f"lrkit: error: --storage {url!r} is an in-memory SQLite database, which keeps "
        "nothing once lrkit exits; give a file, e.g. sqlite:///runs.db")
    with pytest.raises(lrkit.InputError):
        Store(url)


def test_a_corrupted_database_is_refused_untouched(populated, tmp_path, capsys):
    db = copy_db(populated, tmp_path)
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    data[3 * page: 5 * page] = bytes(range(256)) * (2 * page // 256)  # two pages of junk
    db.write_bytes(bytes(data))
    assert refused_untouched(capsys, db) == (
        f"lrkit: error: --storage 'sqlite:///{db}': '{db}' cannot be read as an SQLite "
        "database: database disk image is malformed; lrkit leaves it untouched")


def test_a_read_only_database_is_refused_and_stays_readable(populated, tmp_path, capsys):
    db = copy_db(populated, tmp_path / "ro")
    runs = stored(db)
    assert len(runs) == 4
    before = digest(db)
    with read_only(tmp_path / "ro"):
        line = one_line_error(capsys, run(["compare", *TINY, "--seeds", "3", "--storage",
                                           f"sqlite:///{db}", "--out", str(tmp_path / "o"),
                                           "-q"]))
        assert line == (f"lrkit: error: --storage 'sqlite:///{db}' is read-only (the file "
                        f"'{db}' cannot be written); lrkit stores every finished run, so it "
                        "needs to write there")
    assert digest(db) == before and stored(db) == runs


# -- failures after opening ---------------------------------------------------------------
def test_a_full_store_mid_run_is_one_line_and_keeps_the_stored_runs(populated, tmp_path):
    """A real ``lrkit compare`` process whose SQLite database cannot grow past its size:
    the first new run cannot be stored; one line, exit 2, the 4 runs before it intact."""
    db = copy_db(populated, tmp_path)
    runs = stored(db)
    argv = ["compare", *TINY, "--seeds", "4", "--out", str(tmp_path), "-q"]
    proc = subprocess.run([sys.executable, "-c", capped_pages_code(argv)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"lrkit: error: --storage 'sqlite:///{db}' cannot be written: database or disk is "
        "full"]
    after = stored(db)
    assert {k: after[k] for k in runs} == runs  # every run stored before is intact
    assert len(after) < 8  # the runs it could not store are not there


def test_store_errors_after_opening_are_store_errors(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    st = Store(url)
    with sqlite3.connect(tmp_path / "x.db") as con:  # someone drops a table underneath
        con.execute("DROP TABLE trial_user_attributes")
    with pytest.raises(lrkit.StoreError) as e:
        st.put({"key": "k", "peak": 0.1, "seed": 0}, {"key": "k"})
    assert str(e.value) == (f"--storage {url!r} cannot be written: no such table: "
                            "trial_user_attributes")
    assert isinstance(e.value, lrkit.Error)


def test_a_stored_record_missing_a_field_is_one_line_naming_it(populated, tmp_path, capsys):
    db = copy_db(populated, tmp_path)
    url = f"sqlite:///{db}"
    study = optuna.load_study(study_name=Store(url).name, storage=url)
    good = study.get_trials()[0]
    record = dict(good.user_attrs[ATTR])
    record["result"] = {k: v for k, v in record["result"].items() if k != "val_loss"}
    # an edited copy of the first run, stored before it would be (first trial per key wins)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE trial_user_attributes SET value_json = ? WHERE trial_id = ? AND "
                    "key = ?", (json.dumps(record), good._trial_id, ATTR))
    line = one_line_error(capsys, run(["compare", *TINY, "--out", str(tmp_path), "-q"]))
    assert line == (f"lrkit: error: --storage {url!r}: trial 0 of study {Store(url).name!r} "
                    f"holds a run ({record['key']!r}) whose result lacks 'val_loss'; delete "
                    "that trial (optuna.delete_study removes the whole study) or use another "
                    "--study")
    assert len(optuna.load_study(study_name=Store(url).name, storage=url).get_trials()) == 4
