"""A throwaway PostgreSQL server for the tests: a real ``postgres`` on 127.0.0.1.

:class:`Cluster` runs Debian's server programs (``initdb``, ``pg_ctl``) from
``/usr/lib/postgresql/<version>/bin`` (or ``$LRKIT_PG_BIN``). The server refuses
to run as root, so as root the cluster belongs to the ``postgres`` user
(``runuser -u postgres``). It listens on 127.0.0.1 only, on a free port, with
password authentication over TCP (user ``postgres``, password :data:`PASSWORD`),
and is stopped (``pg_ctl stop -m immediate``) and deleted when the tests end.

The fixtures in ``tests/conftest.py``: ``pg_cluster`` (one server per pytest
process) and ``pg_url`` (a fresh, empty database per test, as a SQLAlchemy URL
with the psycopg 3 driver). Without the server programs the tests that use them
are skipped, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid

PASSWORD = "lrkit-test"
USER = "postgres"


def bindir() -> str | None:
    """Where ``initdb`` and ``pg_ctl`` are, or ``None``."""
    env = os.environ.get("LRKIT_PG_BIN")
    if env:
        return env
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One running server; :meth:`database` makes an empty database and returns its URL."""

    def __init__(self, bin_dir: str) -> None:
        self.bin = bin_dir
        self.root = tempfile.mkdtemp(prefix="lrkit-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, USER, USER)
        os.chmod(self.root, 0o700)
        pwfile = os.path.join(self.root, "pw")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        if self.as_root:
            shutil.chown(pwfile, USER, USER)
        self._run("initdb", "-D", self.data, "-U", USER, "--pwfile", pwfile,
                  "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                  "--no-sync")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
                "-c fsync=off -c max_connections=200 -c shared_buffers=32MB")
        self._run("pg_ctl", "-D", self.data, "-o", opts, "-l",
                  os.path.join(self.root, "log"), "-w", "-t", "60", "start")

    def _run(self, prog: str, *args: str) -> None:
        cmd = [os.path.join(self.bin, prog), *args]
        if self.as_root:
            cmd = ["runuser", "-u", USER, "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=self.root)

    def url(self, database: str = "postgres", password: str = PASSWORD) -> str:
        """A SQLAlchemy URL (psycopg 3 driver) for ``database``."""
        return f"postgresql+psycopg://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        dsn = f"host=127.0.0.1 port={self.port} user={USER} password={PASSWORD} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
