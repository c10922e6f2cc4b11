"""The PostgreSQL test server itself: it runs, takes passwords, and gives each test its own
database (the distributed tests stand on it)."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip("psycopg")


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_fresh_database_per_test(pg_url: str) -> None:
    with psycopg.connect(_dsn(pg_url)) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
        conn.execute("CREATE TABLE t (x int)")


def test_wrong_password_is_refused(pg_cluster) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(_dsn(pg_cluster.url(password="wrong")))


def test_listens_on_loopback_only(pg_cluster) -> None:
    with psycopg.connect(_dsn(pg_cluster.url())) as conn:
        (addr,) = conn.execute("SHOW listen_addresses").fetchone()
    assert addr == "127.0.0.1"
