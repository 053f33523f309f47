"""The two databases the store, queue and API tests run on: SQLite and PostgreSQL.

SQLite needs nothing. PostgreSQL is the test cluster that scripts/setup_test_env.sh
installs and starts (scripts/system_deps/postgres.sh); tests reach it at
NETADAPT_TEST_POSTGRES_URL, by default the URL below. Each test (or test module) gets a
database of its own, created on the server and dropped afterwards, so tests of several
developers can share one cluster. An unreachable server fails the PostgreSQL tests; it
never skips them.

Use the `database_url` fixture (function scope) or `module_database_url` (module scope);
both are parametrized over BACKENDS, so a test taking either runs once per database.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from latency_tables.db import normalize_url

BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://netadapt:netadapt@127.0.0.1:55432/netadapt_test"
POSTGRES_URL_VARIABLE = "NETADAPT_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    return os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL


def _admin_engine():
    # AUTOCOMMIT: CREATE/DROP DATABASE cannot run inside a transaction.
    return create_engine(normalize_url(postgres_admin_url()), isolation_level="AUTOCOMMIT", pool_size=1)


def _check_reachable(engine) -> None:
    reason = None
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # psycopg raises OperationalError subclasses of many kinds
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if reason is not None:
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(postgres_admin_url())!r} ({reason}). "
            "Run scripts/setup_test_env.sh (as root) to install and start the test cluster, "
            f"or point {POSTGRES_URL_VARIABLE} at a server where the role may CREATE DATABASE.",
            pytrace=False,
        )


def _drop_database(admin, name: str) -> None:
    # FORCE: a server thread or a leaked session must not keep the drop waiting. It can
    # still fail for a moment while an autovacuum worker is in the database (when the
    # role lacks pg_signal_backend, granted by scripts/system_deps/postgres.sh): retry.
    for attempt in range(5):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except Exception:  # the driver's error classes vary; the last one is raised
            if attempt == 4:
                raise
            time.sleep(0.5)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped when the block ends."""
    admin = _admin_engine()
    try:
        _check_reachable(admin)
        name = f"netadapt_t_{uuid.uuid4().hex[:16]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield normalize_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
        finally:
            _drop_database(admin, name)
    finally:
        admin.dispose()


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """A new empty database on `backend` ("sqlite" file in `directory`, or "postgresql")."""
    if backend == "sqlite":
        directory.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{(directory / f'netadapt-{uuid.uuid4().hex[:8]}.db').as_posix()}"
    elif backend == "postgresql":
        with fresh_postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}; use one of {BACKENDS}")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database for this test, once on SQLite and once on PostgreSQL."""
    with fresh_database(request.param, tmp_path / "db") as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh empty database shared by the tests of one module, on each backend."""
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url
