"""Opening a store safely: checks of an SQLite URL before Optuna touches the file, and
one-line errors for a store's failures.

* :func:`check_sqlite` refuses ``sqlite://`` and ``sqlite:///:memory:`` (which persist
  nothing), a file that is not an SQLite database, a corrupted one (``PRAGMA
  quick_check``), one whose tables are not an Optuna storage's, and a read-only file or
  folder, with an :class:`lrkit.InputError`; it only reads, through a read-only
  connection, so the file stays byte for byte as it was.
* :func:`store_errors` turns a database's failure once the store is open (a full disk, a
  damaged file) into :class:`lrkit.StoreError` with the database's own reason
  (:func:`cause`), not Optuna's guess "exceeding max length".

>>> sqlite_file("sqlite:///runs/lrkit.db"), sqlite_file("postgresql://h/db")
('runs/lrkit.db', None)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ..errors import InputError, StoreError

__all__ = ["check_sqlite", "sqlite_file", "store_errors", "cause", "OPTUNA_TABLES"]

OPTUNA_TABLES = frozenset({"studies", "version_info"})
"""Tables every Optuna RDB storage has: an SQLite file with tables but not these is not an
Optuna storage, and lrkit refuses to write into it."""

_SQLITE_HEADER = b"SQLite format 3\x00"


def cause(e: BaseException) -> str:
    """One line for an error of the store: the innermost cause's message (Optuna wraps a
    database's error in a ``StorageInternalError`` that guesses "exceeding max length")."""
    while e.__cause__ is not None:
        e = e.__cause__
    orig = getattr(e, "orig", None)  # SQLAlchemy's wrapper of the driver's error
    text = str(orig if orig is not None else e)
    return " ".join(text.split())[:300] or type(e).__name__


@contextlib.contextmanager
def store_errors(url: str, action: str) -> Iterator[None]:
    """Turn a failure of the store while ``action`` (``"read"``, ``"write"``) into
    :class:`lrkit.StoreError`: ``--storage 'sqlite:///x.db' cannot be written: database or
    disk is full``. lrkit's own errors pass unchanged."""
    from optuna.exceptions import StorageInternalError

    try:
        yield
    except (InputError, StoreError):
        raise
    except Exception as e:
        if isinstance(e, (StorageInternalError, OSError)) or _is_database_error(e):
            raise StoreError(f"--storage {url!r} cannot be {_PAST[action]}: {cause(e)}") from e
        raise


_PAST = {"read": "read", "write": "written"}


def _is_database_error(e: BaseException) -> bool:
    """An error of SQLAlchemy or of a database driver (sqlite3, psycopg, ...)."""
    import sqlite3

    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:  # pragma: no cover - optuna needs sqlalchemy for RDB storages
        return isinstance(e, sqlite3.Error)
    return isinstance(e, (SQLAlchemyError, sqlite3.Error))


def sqlite_file(url: str) -> str | None:
    """The file of an SQLite URL (``None`` for another database); ``sqlite://`` and
    ``sqlite:///:memory:`` (a database per connection, that persists nothing) are refused."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        u = make_url(url.strip())
    except (ArgumentError, ValueError):
        return None  # not a URL: Optuna's own error says so
    if u.get_backend_name() != "sqlite":
        return None
    database = u.database or ""
    if database in ("", ":memory:") or u.query.get("mode") == "memory":
        raise InputError(f"--storage {url!r} is an in-memory SQLite database, which keeps "
                         "nothing once lrkit exits; give a file, e.g. sqlite:///runs.db")
    return database


def check_sqlite(url: str) -> None:
    """Refuse an SQLite URL that lrkit must not open, before anything writes to it: an
    in-memory database (:func:`sqlite_file`); a file that is not an SQLite database, is
    corrupted (``PRAGMA quick_check``) or holds tables but not an Optuna storage's; a
    read-only file, or folder (SQLite writes its journal next to the file). A file that
    does not exist yet, or is empty, is fine (Optuna creates its tables). Nothing is
    written: the file is opened read-only."""
    path = sqlite_file(url)
    if path is None or not os.path.exists(path):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and os.path.isdir(folder) and not os.access(folder, os.W_OK):
            raise InputError(f"--storage {url!r} cannot be created: the folder {folder!r} is "
                             "read-only")
        return
    where = f"--storage {url!r}"
    if not os.path.isfile(path):
        raise InputError(f"{where} is not a file: {path!r}")
    with open(path, "rb") as f:
        head = f.read(len(_SQLITE_HEADER))
    if not head:
        tables: set[str] = set()
    elif head != _SQLITE_HEADER:
        raise InputError(f"{where}: {path!r} is not an SQLite database (it does not start "
                         "with SQLite's header); lrkit leaves it untouched: give another file")
    else:
        tables = _tables(where, path)
    if tables and not OPTUNA_TABLES <= tables:
        names = ", ".join(map(repr, sorted(tables)[:8])) + (", ..." if len(tables) > 8 else "")
        raise InputError(f"{where}: {path!r} is an SQLite database but not an Optuna storage "
                         f"(its tables: {names}); lrkit leaves it untouched: give another file")
    folder = os.path.dirname(os.path.abspath(path))
    for what, p in (("file", path), ("folder", folder)):
        if not os.access(p, os.W_OK):
            raise InputError(f"{where} is read-only (the {what} {p!r} cannot be written); "
                             "lrkit stores every finished run, so it needs to write there")


def _tables(where: str, path: str) -> set[str]:
    """The tables of an SQLite file, read through a read-only connection, after SQLite's
    ``quick_check`` (a corrupted file is refused)."""
    import pathlib
    import sqlite3

    uri = pathlib.Path(os.path.abspath(path)).as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
        try:
            check = con.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                raise sqlite3.DatabaseError(f"database disk image is malformed ({check[0][0]})")
            rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise InputError(f"{where}: {path!r} cannot be read as an SQLite database: "
                         f"{cause(e)}; lrkit leaves it untouched") from None
    return {str(r[0]) for r in rows}
