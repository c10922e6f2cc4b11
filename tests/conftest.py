"""Fixtures for the tests: a real PostgreSQL server (see tests/postgres.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from postgres import Cluster, bindir


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One PostgreSQL server per pytest process, on 127.0.0.1, stopped at the end."""
    where = bindir()
    if where is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's server programs are missing (apt-get install postgresql)")
        pytest.skip("PostgreSQL's server programs are not installed")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("psycopg is missing (pip install 'lrkit[distributed]')")
        pytest.skip("psycopg is not installed")
    cluster = Cluster(where)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A fresh, empty database on the test server: its SQLAlchemy URL (psycopg 3)."""
    return pg_cluster.database()
