"""Which server executes which run, when several servers share one database.

A run is claimed in the database (status queued -> running, FOR UPDATE SKIP LOCKED), but
the claim must also say *who* holds it, so that a server can tell a run another live
server is executing from one whose server died (its worker died with it: workers are
armed with PR_SET_PDEATHSIG) and must go back to the queue.

PostgreSQL (`AdvisoryRunHolds`): each server keeps one connection of its own and takes a
session-level advisory lock per run it executes, before the claim commits. PostgreSQL
releases a session's locks when its connection ends, so a server that is killed lets go
of its runs at once, with no clock or lease to tune. A run that is running (or being
cancelled) while its lock can be taken has no live server: any server requeues it. On a
lost connection the server takes its locks again; a run whose lock another server took
meanwhile is no longer this server's, and its worker is stopped.

SQLite (`SingleServerHolds`): one server per database file; every run it did not start
itself was left by a previous server, and is requeued when the server starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection

import psycopg
from sqlalchemy import Engine

log = logging.getLogger(__name__)

_LOCK_KEY = "SELECT hashtextextended('netadapt-run:' || %s, 0)"


class RunHolds:
    """The interface the supervisor uses (see the two implementations)."""

    multi_server = False

    def hold(self, run_id: str) -> bool:
        """Take this server's hold on `run_id`; False if another server holds it."""
        return True

    def release(self, run_id: str) -> None:
        """Let go of `run_id` (its worker ended and the run is settled)."""

    def orphaned(self, run_ids: Collection[str]) -> list[str]:
        """Of `run_ids` (running runs this server does not execute), those no live server
        holds. Each is held by this server when returned: release it after requeueing."""
        return []

    def lost(self, own: Collection[str]) -> list[str]:
        """Of this server's runs, those it no longer holds (its connection dropped and
        another server took them over)."""
        return []

    def close(self) -> None:
        pass


class SingleServerHolds(RunHolds):
    """SQLite: this server is the only one; nothing to hold."""


class AdvisoryRunHolds(RunHolds):
    """PostgreSQL session-level advisory locks on a connection of this server's own."""

    multi_server = True

    def __init__(self, engine: Engine) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: psycopg.Connection | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()  # the supervisor calls from worker threads
        self._reconnected = False

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
            self._reconnected = bool(self._held)
        return self._conn

    def _try_lock(self, run_id: str) -> bool:
        row = self._connection().execute(f"SELECT pg_try_advisory_lock(({_LOCK_KEY}))", (run_id,)).fetchone()
        return bool(row and row[0])

    def _unlock(self, run_id: str) -> None:
        self._connection().execute(f"SELECT pg_advisory_unlock(({_LOCK_KEY}))", (run_id,))

    def hold(self, run_id: str) -> bool:
        with self._lock:
            if run_id in self._held:
                return True
            if self._try_lock(run_id):
                self._held.add(run_id)
                return True
            return False

    def release(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._held:
                self._held.discard(run_id)
                self._unlock(run_id)

    def orphaned(self, run_ids: Collection[str]) -> list[str]:
        with self._lock:
            found = []
            for run_id in run_ids:
                # Session locks are re-entrant: never ask about a run this server holds.
                if run_id not in self._held and self._try_lock(run_id):
                    self._held.add(run_id)
                    found.append(run_id)
            return found

    def lost(self, own: Collection[str]) -> list[str]:
        with self._lock:
            try:
                self._connection().execute("SELECT 1")
            except psycopg.OperationalError as exc:
                log.warning("run holds: connection lost (%s); reconnecting", exc)
                self._conn = None
                self._connection()
            if not self._reconnected:
                return []
            self._reconnected = False
            gone = [run_id for run_id in own if not self._try_lock(run_id)]
            self._held.difference_update(gone)
            return gone

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()  # releases every lock this server held
            self._held.clear()


def run_holds(engine: Engine) -> RunHolds:
    return AdvisoryRunHolds(engine) if engine.dialect.name == "postgresql" else SingleServerHolds()
