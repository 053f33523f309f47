"""Fixtures for server tests: a real uvicorn server on a free port, and queue sessions.

`live_server` is reusable by any test package: import it from here (or list this module
in `pytest_plugins`). It yields a LiveServer with `base_url` and the `settings` it runs
with (temp data dir, dev_mode, explicit tokens).

`live_server` and `db_session` run every test that uses them twice: on SQLite and on
PostgreSQL (tests/db/backends.py; the PostgreSQL test cluster comes from
scripts/setup_test_env.sh). `database_url` gives a test its own empty database on each.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session

from latency_tables.db import make_engine, make_session_factory
from service.api.http_server import http_server_options
from service.app import AppServer, create_app
from service.settings import Settings
from tests.db.backends import database_url, module_database_url  # noqa: F401  (fixtures)

AGENT_TOKEN = "test-agent-token-0123456789"
API_TOKEN = "test-api-token-0123456789"


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "dev_mode": True,
        "agent_token": AGENT_TOKEN,
        "api_token": API_TOKEN,
        "long_poll_seconds": 5.0,
        "max_upload_bytes": 1024 * 1024,
    }
    values.update(overrides)
    # _env_file=None: a developer's .env must not leak into tests.
    return Settings(_env_file=None, **values)


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    settings: Settings

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the server's own database (a separate engine and connections)."""
        engine = make_engine(self.settings.database_url)
        try:
            with make_session_factory(engine)() as session:
                yield session
        finally:
            engine.dispose()


@contextmanager
def running_server(settings: Settings) -> Iterator[LiveServer]:
    """Serve create_app(settings) on 127.0.0.1 in a thread until the block ends."""
    # proto=IPPROTO_TCP, not the default 0: asyncio only sets TCP_NODELAY on accepted
    # sockets whose proto says TCP; without it Nagle + delayed ACK cost 40 ms a request.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; we keep the socket
    port = sock.getsockname()[1]
    # The app's own workers call back on settings.port.
    settings = settings.model_copy(update={"port": port})
    config = uvicorn.Config(
        create_app(settings), log_level="warning", lifespan="on", timeout_graceful_shutdown=2,
        **http_server_options(settings),
    )
    server = AppServer(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", settings=settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[LiveServer]:  # noqa: F811
    """One server per test module and database (starting one costs ~0.3 s). Tests share its
    database: give each test its own device profile (tests.server.helpers.device() does)
    instead of assuming an empty server. Need other settings? Use `running_server` (with
    `database_url=database_url` to stay on both databases)."""
    settings = make_settings(tmp_path_factory.mktemp("server") / "data", database_url=module_database_url)
    with running_server(settings) as server:
        yield server


@pytest.fixture
def db_session(database_url: str) -> Iterator[Session]:  # noqa: F811
    """A session on a fresh database (SQLite, then PostgreSQL) with the whole schema."""
    from service.db.session import Database

    database = Database.connect(database_url)
    try:
        with database.session() as session:
            yield session
    finally:
        database.dispose()
