"""Run holds of several servers on one PostgreSQL database (service.runs.claims): a run one
server holds is nobody else's; a server whose connection ends lets go of all its runs at
once; a server cut off and taken over learns which runs it lost. SQLite: one server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from latency_tables.db import make_engine
from service.runs.claims import AdvisoryRunHolds, SingleServerHolds, run_holds
from tests.db.backends import fresh_postgres_database
from tests.device_agent.live import wait_until


@pytest.fixture
def engine() -> Iterator[Engine]:
    with fresh_postgres_database() as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def test_a_held_run_is_nobody_elses_until_its_server_is_gone(engine: Engine) -> None:
    first, second = run_holds(engine), run_holds(engine)
    assert isinstance(first, AdvisoryRunHolds) and first.multi_server
    try:
        assert first.hold("run-a") and first.hold("run-a")  # holding again is harmless
        assert not second.hold("run-a")
        assert second.orphaned(["run-a"]) == []  # running on a live server
        assert second.hold("run-b")
        first.release("run-a")
        assert second.orphaned(["run-a"]) == ["run-a"]  # released: nobody's
        second.release("run-a")

        assert first.hold("run-c")
        first.close()  # the server's connection ends (as when it is killed)
        # PostgreSQL frees a closed session's locks when its backend exits, a moment after
        # the client hung up (a clean-clone CI once asked in between): ask until it has.
        assert wait_until(lambda: second.orphaned(["run-c"]), 10, "the closed session's lock") == ["run-c"]
        assert first.lost([]) == []
    finally:
        first.close()
        second.close()


def test_a_server_cut_off_learns_which_runs_another_took_over(engine: Engine) -> None:
    first, second = run_holds(engine), run_holds(engine)
    try:
        assert first.hold("run-a") and first.hold("run-b")
        assert first.lost(["run-a", "run-b"]) == []  # connected: nothing lost
        with engine.connect() as conn:  # the database drops the first server's connection
            conn.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
            ))
        assert second.orphaned(["run-a"]) == ["run-a"]  # taken over while the first was cut off
        assert first.lost(["run-a", "run-b"]) == ["run-a"]  # reconnected: run-b is still its own
        assert not second.hold("run-b")
    finally:
        first.close()
        second.close()


def test_sqlite_has_one_server_and_nothing_to_hold(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        holds = run_holds(engine)
        assert isinstance(holds, SingleServerHolds) and not holds.multi_server
        assert holds.hold("run-a") and holds.orphaned(["run-a"]) == [] and holds.lost(["run-a"]) == []
    finally:
        engine.dispose()
