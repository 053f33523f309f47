"""Wake-ups across server processes on PostgreSQL: NOTIFY at commit, LISTEN in every server.

A server wakes its own long polls and event streams directly (QueueSignal); what another
process did (another server enqueued jobs, a run worker appended events) it would only
see at its next poll. On PostgreSQL the writer sends `NOTIFY channel, payload` inside
its transaction (delivered at commit, dropped on rollback) and each server keeps one
connection listening, which turns notifications into local wake-ups. SQLite has no such
thing: there the waiters keep polling, as they always did.

A notification is a hint, never the data: waiters re-read the database, so one lost
while the listening connection was down costs at most a poll interval (and every
handler is called once after each (re)connect, for whatever was missed meanwhile).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

import psycopg
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from latency_tables.db import is_postgresql

log = logging.getLogger(__name__)

JOBS_CHANNEL = "netadapt_jobs"  # payload: a profile id whose jobs became claimable
RUN_EVENTS_CHANNEL = "netadapt_run_events"  # payload: a run id that has new events

RECONNECT_SECONDS = 1.0
_RECEIVE_SECONDS = 0.5  # how often the listening thread checks whether to stop


def notify(session: Session, channel: str, payload: str) -> None:
    """Tell every listening server, when the caller's transaction commits (PostgreSQL; a
    no-op on SQLite)."""
    if is_postgresql(session):
        session.execute(select(func.pg_notify(channel, payload)))


class Listener(threading.Thread):
    """One PostgreSQL connection LISTENing on `handlers`' channels; each notification
    calls its channel's handler with the payload (from this thread: handlers must be
    thread-safe and quick, e.g. QueueSignal.notify)."""

    def __init__(self, engine: Engine, handlers: Mapping[str, Callable[[str], None]]) -> None:
        super().__init__(name="pg-listen", daemon=True)
        # The engine's URL without SQLAlchemy's driver suffix: a libpq URI psycopg takes.
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._handlers = dict(handlers)
        self._stopping = threading.Event()
        self.listening = threading.Event()  # set while the connection is up (tests wait on it)

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                self.listening.clear()
                log.warning("LISTEN connection lost (%s); reconnecting in %.0f s", exc, RECONNECT_SECONDS)
                self._stopping.wait(RECONNECT_SECONDS)

    def _listen(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            for channel in self._handlers:
                conn.execute(f"LISTEN {channel}")  # channel names are our constants, not input
            self.listening.set()
            for handler in self._handlers.values():
                handler("")  # whatever was sent while nobody listened
            while not self._stopping.is_set():
                for note in conn.notifies(timeout=_RECEIVE_SECONDS):
                    handler = self._handlers.get(note.channel)
                    if handler is not None:
                        handler(note.payload)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)
