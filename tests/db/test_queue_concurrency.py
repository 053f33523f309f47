"""The queue under real concurrency, on SQLite and PostgreSQL: separate connections in
threads, all released at once. On PostgreSQL claims use FOR UPDATE SKIP LOCKED: a claim
never waits for rows another claimer holds, and never gets them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from latency_tables import store
from latency_tables.db import is_postgresql, write_transaction
from service.db.agents import AgentIdentity, register_agent
from service.db.tables import Agent, Job
from service.db.session import Database
from service.queue import ResultValues, claim_jobs, enqueue_layer_jobs, record_result
from service.queue.jobs import _locked, _pending
from tests.db.backends import fresh_postgres_database
from tests.server.helpers import conv, device

LEASE = 30.0


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database.connect(database_url)
    try:
        yield db
    finally:
        db.dispose()


def in_threads(count: int, work: Callable[[int, Session], Any], database: Database) -> list[Any]:
    """Run work(i, own session) in `count` threads started together; results by i."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def body(i: int) -> None:
        try:
            with database.session() as session:
                start.wait()
                results[i] = work(i, session)
        except BaseException as exc:  # re-raised in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def agents(database: Database, count: int) -> list[AgentIdentity]:
    dev = device()
    with database.session() as session:
        return [register_agent(session, f"agent-{i}", dev).agent for i in range(count)]


def test_concurrent_identical_enqueues_merge_into_one_job_each(database: Database) -> None:
    [a] = agents(database, 1)
    wanted = [conv(c) for c in range(1, 41)]

    def enqueue(i: int, session: Session) -> dict[str, str]:
        return enqueue_layer_jobs(session, a.profile_id, "latency_ms", wanted[i % 3 :] + wanted[: i % 3], max_attempts=3)

    results = in_threads(6, enqueue, database)
    assert all(r == results[0] for r in results)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == len(wanted)


def test_every_result_is_recorded_exactly_once_under_concurrent_reports(database: Database) -> None:
    crowd = agents(database, 4)
    with database.session() as session:
        jobs = enqueue_layer_jobs(session, crowd[0].profile_id, "latency_ms", [conv(c) for c in range(1, 21)],
                                  max_attempts=3)
        # Every agent holds every job at some point, so every agent may report each one.
        for me in crowd:
            with write_transaction(session):
                for job in session.scalars(select(Job)):
                    job.add_lessee(me.id)
    job_ids = sorted(jobs.values())

    def report_all(i: int, session: Session) -> int:
        accepted = 0
        for job_id in job_ids[i:] + job_ids[:i]:
            outcome = record_result(session, job_id, crowd[i], ResultValues(median=float(i + 1), n=3))
            accepted += outcome.accepted
        return accepted

    accepted = in_threads(len(crowd), report_all, database)
    assert sum(accepted) == len(job_ids)
    with database.session() as session:
        assert store.count_entries(session, crowd[0].profile_id) == len(job_ids)
        done = {a.id: a.jobs_done for a in session.scalars(select(Agent))}
        assert [done[a.id] for a in crowd] == accepted  # counters agree with who won
        for job in session.scalars(select(Job)):
            [entry] = store.lookup_entries(session, job.profile_id, job.metric, [job.signature_digest]).values()
            assert (job.status, entry.median, entry.agent_id) == ("done", job.result_median, job.result_agent_id)


@pytest.fixture
def postgres_database() -> Iterator[Database]:
    """PostgreSQL only: SQLite serialises claims with BEGIN IMMEDIATE instead."""
    with fresh_postgres_database() as url:
        db = Database.connect(url)
        try:
            assert is_postgresql(db.engine)
            yield db
        finally:
            db.dispose()


def test_postgresql_claims_skip_rows_another_claim_holds(postgres_database: Database) -> None:
    database = postgres_database
    first, second = agents(database, 2)
    with database.session() as session:
        jobs = enqueue_layer_jobs(session, first.profile_id, "latency_ms", [conv(c) for c in range(1, 7)],
                                  max_attempts=3)
    holder = database.session()
    try:
        holder.begin()
        # An open transaction that has locked the three oldest pending jobs.
        held = [j.id for j in holder.scalars(_locked(_pending(first.profile_id).order_by(Job.created_at, Job.id).limit(3)))]
        assert len(held) == 3
        got: list[str] = []

        def claim() -> None:
            with database.session() as session:
                got.extend(j.id for j in claim_jobs(session, second.profile_id, second.id, 6, lease_seconds=LEASE))

        claimer = threading.Thread(target=claim)
        claimer.start()
        claimer.join(timeout=10)
        assert not claimer.is_alive(), "the claim waited for rows another transaction holds"
        assert set(got) == set(jobs.values()) - set(held)
    finally:
        holder.rollback()
        holder.close()
    with database.session() as session:
        assert [j.id for j in claim_jobs(session, first.profile_id, first.id, 6, lease_seconds=LEASE)] == held


def test_one_agent_reporting_in_parallel_loses_no_count(database: Database) -> None:
    """Two connections of the same agent report different jobs at once: each report adds
    its own one to jobs_done / jobs_failed (a read-modify-write in Python lost some)."""
    [me] = agents(database, 1)
    with database.session() as session:
        jobs = enqueue_layer_jobs(session, me.profile_id, "latency_ms", [conv(c) for c in range(1, 25)], max_attempts=3)
        with write_transaction(session):
            for job in session.scalars(select(Job)):
                job.add_lessee(me.id)
    job_ids = sorted(jobs.values())
    threads = 4

    def report_share(i: int, session: Session) -> None:
        for n, job_id in enumerate(job_ids[i::threads]):
            error = "out of memory" if n == 0 else None
            values = ResultValues(error=error) if error else ResultValues(median=1.0, n=3)
            record_result(session, job_id, me, values)

    in_threads(threads, report_share, database)
    with database.session() as session:
        agent = session.get(Agent, me.id)
        assert (agent.jobs_done, agent.jobs_failed) == (len(job_ids) - threads, threads)


def test_the_same_name_registering_at_once_is_one_agent(database: Database) -> None:
    dev = device()
    registered = in_threads(4, lambda i, session: register_agent(session, "twin", dev).agent.id, database)
    assert len(set(registered)) == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Agent).where(Agent.name == "twin")) == 1
