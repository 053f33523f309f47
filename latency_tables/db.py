"""Engine setup and the declarative base shared by the lookup-table store and the server.

One `Base` (one metadata) holds the store's tables and the service's own (agents, jobs),
so foreign keys can cross between them. The server builds and evolves the schema with
migrations (service.db.migrations, run by Database.connect); `create_all` remains for
the store used on its own (its tests, scripts).

SQLite is the embedded default and needs care to behave like a server database:

- WAL journal, so readers never wait for the writer;
- busy_timeout, so a writer waits for the lock instead of failing at once;
- foreign_keys=ON, which SQLite leaves off by default, per connection;
- explicit BEGIN: pysqlite's own transaction handling starts transactions lazily, only
  before DML, so a SELECT-then-UPDATE would read outside the transaction. We switch
  it off and emit BEGIN ourselves; `write_transaction` emits BEGIN IMMEDIATE, which
  takes the write lock up front. A deferred transaction that reads and then writes can
  fail with SQLITE_BUSY when another writer committed in between (busy_timeout does
  not help there), so every read-modify-write must use `write_transaction`.
- one writer at a time per process: `write_transaction` takes a per-database lock in
  the process before BEGIN IMMEDIATE. SQLite's busy handler polls with sleeps and is
  not fair: with dozens of server threads waiting for the write lock, some waited past
  busy_timeout and failed ("database is locked", seen with 200 agents in
  benchmarks/agents_load.py). Threads now queue in the process; busy_timeout is left
  to arbitrate between processes (server, run workers, tools).

PostgreSQL (`postgresql://...`, driven by psycopg 3) needs none of that: its
transactions start on the first statement, and row locks (SELECT ... FOR UPDATE, with
SKIP LOCKED for queue claims) take the place of SQLite's database-wide write lock.
Everything else is plain SQLAlchemy, identical on both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 5000
# Connections per PostgreSQL engine: the server runs blocking handlers in a threadpool
# of 40; a few more than the default 5 + 10 keep them from queueing for a connection.
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 20

# Execution option read by the SQLite "begin" hook; see write_transaction.
_WRITE_LOCK_OPTION = "netadapt_write_lock"


class Base(DeclarativeBase):
    """Declarative base of every table (store and service): one metadata."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    SQLite has no timezone-aware type: it hands back naive datetimes, which then refuse
    to compare with aware ones. Store naive UTC, return aware UTC.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass timezone-aware UTC datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def is_sqlite(bind: Engine | Connection | Session) -> bool:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "sqlite"


def is_postgresql(bind: Engine | Connection | Session) -> bool:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return engine.dialect.name == "postgresql"


def normalize_url(url: str | URL) -> URL:
    """`url` with an explicit driver: plain `postgresql://` (or `postgres://`) means psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for `url`; SQLite gets WAL, busy_timeout, foreign keys and explicit BEGIN."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            parsed,
            echo=echo,
            pool_pre_ping=True,
            pool_size=POSTGRES_POOL_SIZE,
            max_overflow=POSTGRES_MAX_OVERFLOW,
        )
    url = parsed.render_as_string(hide_password=False)

    in_memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
    kwargs: dict[str, Any] = {
        # The server hands sessions to threadpool workers; each connection is still
        # used by one thread at a time (the pool guarantees it).
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    }
    if in_memory:
        # Every connection to ":memory:" is a new empty database: share one.
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, echo=echo, **kwargs)
    _install_sqlite_hooks(engine, wal=not in_memory)
    return engine


def _install_sqlite_hooks(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                # NORMAL is durable across application crashes in WAL mode; FULL only
                # adds protection against power loss, at an fsync per commit.
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(_WRITE_LOCK_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: functions return ORM rows after committing; callers read
    # their attributes afterwards without another round trip.
    return sessionmaker(bind=engine, expire_on_commit=False)


_sqlite_writer_locks: dict[str, threading.RLock] = {}
_sqlite_writer_locks_guard = threading.Lock()


def _sqlite_writer_lock(engine: Engine) -> threading.RLock:
    """The in-process write lock of the SQLite database behind `engine` (one per file, so
    several engines on one file share it)."""
    database = engine.url.database or ""
    in_memory = not database or database == ":memory:" or "mode=memory" in str(engine.url)
    key = f"memory:{id(engine)}" if in_memory else database
    with _sqlite_writer_locks_guard:
        return _sqlite_writer_locks.setdefault(key, threading.RLock())


@contextmanager
def write_transaction(session: Session) -> Iterator[Session]:
    """One transaction that holds the database's write lock from its first statement.

    On SQLite this is BEGIN IMMEDIATE: concurrent writers queue up (busy_timeout)
    instead of reading stale rows and failing on upgrade. On other databases it is an
    ordinary transaction; row locks (SELECT ... FOR UPDATE) do the rest. Commits on
    success, rolls back on error. The session must not be inside a transaction yet.
    """
    if session.in_transaction():
        raise RuntimeError(
            "write_transaction needs a session outside any transaction; commit or roll back the open one first"
        )
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    writers = _sqlite_writer_lock(engine) if engine.dialect.name == "sqlite" else nullcontext()
    with writers, session.begin():
        session.connection(execution_options={_WRITE_LOCK_OPTION: True})
        yield session


def create_all(engine: Engine) -> None:
    """Create every table registered on `Base` (import the model modules first). Only for
    the store on its own: a server database is made by migrations (Database.connect)."""
    # The store's models register themselves on import; make sure they are present
    # even when only the server's models were imported by the caller.
    import latency_tables.store  # noqa: F401

    Base.metadata.create_all(engine)
