"""Engine and sessions of the running server, its LISTEN thread, and the per-request session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from latency_tables.db import make_engine, make_session_factory
from service.db.notify import Listener


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]
    # PostgreSQL: the thread that turns other processes' NOTIFYs into wake-ups (listen()).
    listener: Listener | None = None

    @classmethod
    def connect(cls, url: str, *, migrate: bool = True) -> Database:
        """Open `url` (SQLite or PostgreSQL) and migrate it to the newest schema revision
        (service.db.migrations; an empty database gets every table). `migrate=False`
        leaves the schema alone (a second process on a database the server migrated)."""
        from service.db.migrations import metadata, upgrade

        metadata()  # registers every table on Base before the first query
        engine = make_engine(url)
        if migrate:
            try:
                upgrade(engine)
            except BaseException:
                engine.dispose()
                raise
        return cls(engine=engine, sessions=make_session_factory(engine))

    def session(self) -> Session:
        return self.sessions()

    def listen(self, handlers: Mapping[str, Callable[[str], None]]) -> Listener | None:
        """PostgreSQL: a started thread calling `handlers[channel](payload)` for every
        NOTIFY on their channels (service.db.notify). SQLite: None; waiters poll."""
        if self.engine.dialect.name != "postgresql":
            return None
        self.listener = Listener(self.engine, handlers)
        self.listener.start()
        return self.listener

    def dispose(self) -> None:
        self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, closed (and any open transaction rolled back) after it.

    Opening a session does no I/O, and closing one that ended its transactions does none
    either: only a rollback left to do goes to a worker thread (a thread hop per request
    is measurable under load)."""
    database: Database = request.app.state.database
    session = database.session()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()
