"""Wake-ups across processes: on PostgreSQL what commits jobs or run events NOTIFYs every
listening server; a rolled-back transaction notifies nobody. SQLite has no listener."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from latency_tables.db import write_transaction
from service.db.agents import register_agent
from service.db.notify import JOBS_CHANNEL, RUN_EVENTS_CHANNEL, notify
from service.db.session import Database
from service.queue import claim_jobs, enqueue_layer_jobs, release_job
from tests.db.backends import fresh_postgres_database
from tests.server.helpers import conv, device

WAIT = 30  # seconds: only a broken listener waits this long


@pytest.fixture
def database() -> Iterator[Database]:
    with fresh_postgres_database() as url:
        db = Database.connect(url)
        try:
            yield db
        finally:
            db.dispose()


def listening(database: Database) -> tuple[queue.Queue[tuple[str, str]], object]:
    received: queue.Queue[tuple[str, str]] = queue.Queue()
    listener = database.listen(
        {channel: (lambda payload, channel=channel: received.put((channel, payload)))
         for channel in (JOBS_CHANNEL, RUN_EVENTS_CHANNEL)}
    )
    assert listener is not None and listener.listening.wait(WAIT)
    # The wake-ups every (re)connect sends for whatever was missed meanwhile.
    assert sorted(received.get(timeout=WAIT) for _ in range(2)) == [(JOBS_CHANNEL, ""), (RUN_EVENTS_CHANNEL, "")]
    return received, listener


def test_committed_jobs_notify_listeners_and_rolled_back_ones_do_not(database: Database) -> None:
    received, listener = listening(database)
    try:
        with database.session() as session:
            agent = register_agent(session, "a", device()).agent
            with pytest.raises(RuntimeError), write_transaction(session):
                notify(session, JOBS_CHANNEL, "rolled-back")
                raise RuntimeError("the transaction fails")
            enqueue_layer_jobs(session, agent.profile_id, "latency_ms", [conv(8)], max_attempts=3)
            # The first notification to arrive is the commit's: the rolled-back one never came.
            assert received.get(timeout=WAIT) == (JOBS_CHANNEL, agent.profile_id)

            [job] = claim_jobs(session, agent.profile_id, agent.id, 1, lease_seconds=30)
            release_job(session, job.id, agent)  # claimable again: wake the others
            assert received.get(timeout=WAIT) == (JOBS_CHANNEL, agent.profile_id)
            with write_transaction(session):
                notify(session, RUN_EVENTS_CHANNEL, "run-1")
            assert received.get(timeout=WAIT) == (RUN_EVENTS_CHANNEL, "run-1")
    finally:
        listener.stop()
    assert not listener.is_alive()


def test_sqlite_has_no_listener_and_notify_is_a_no_op(tmp_path) -> None:
    database = Database.connect(f"sqlite:///{tmp_path / 'n.db'}")
    try:
        assert database.listen({JOBS_CHANNEL: lambda _: None}) is None
        session: Session
        with database.session() as session, write_transaction(session):
            notify(session, JOBS_CHANNEL, "nobody listens")
    finally:
        database.dispose()
