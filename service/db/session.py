"""Engine and sessions of the running server, and the per-request session dependency."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from latency_tables.db import create_all, make_engine, make_session_factory


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def connect(cls, url: str) -> Database:
        """Open `url` and create any missing tables (no migrations yet)."""
        # Registers the service's tables on Base (the store's own are in latency_tables).
        import service.db.models  # noqa: F401
        import service.db.runs  # noqa: F401
        import service.db.uploads  # noqa: F401

        engine = make_engine(url)
        create_all(engine)
        return cls(engine=engine, sessions=make_session_factory(engine))

    def session(self) -> Session:
        return self.sessions()

    def dispose(self) -> None:
        self.engine.dispose()


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, closed (and any open transaction rolled back) after it."""
    database: Database = request.app.state.database
    with database.session() as session:
        yield session
