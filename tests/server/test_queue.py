"""The job queue on SQLite and PostgreSQL: merging, atomic claims, expiry, idempotent results (one or a batch), release."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from latency_tables import store
from latency_tables.db import utcnow, write_transaction
from service.db.agents import AgentIdentity, register_agent
from service.db.tables import Agent, Job
from service.db.session import Database
from service.queue import InvalidResult, JobConflict, JobNotFound, LeaseExpired, ResultValues
from service.queue import claim_jobs, enqueue_layer_jobs, enqueue_model_job, get_job, requeue_expired
from service.queue import heartbeat, heartbeat_jobs, lease_jobs, record_result, record_results, release_job
from tests.server.helpers import conv, device

LEASE = 30.0


def agent(session: Session, name: str, dev=None) -> AgentIdentity:
    return register_agent(session, name, dev or DEVICE).agent


DEVICE = device(cpu="queue-test-cpu")


def enqueue(session: Session, profile_id: str, channels: list[int], max_attempts: int = 3) -> dict[str, str]:
    return enqueue_layer_jobs(session, profile_id, "latency_ms", [conv(c) for c in channels], max_attempts=max_attempts)


def job_count(session: Session) -> int:
    with session.begin():
        return session.scalar(select(func.count()).select_from(Job))


def entry_count(session: Session, profile_id: str) -> int:
    with session.begin():
        return store.count_entries(session, profile_id)


def test_identical_jobs_merge(db_session: Session) -> None:
    a = agent(db_session, "a")
    first = enqueue(db_session, a.profile_id, [8, 16])
    second = enqueue(db_session, a.profile_id, [16, 24, 8, 8])
    assert first.items() <= second.items()
    assert len(set(second.values())) == 3
    assert job_count(db_session) == 3
    # still merged while leased
    claim_jobs(db_session, a.profile_id, a.id, 10, lease_seconds=LEASE)
    assert enqueue(db_session, a.profile_id, [8]) == {conv(8).digest: first[conv(8).digest]}
    assert job_count(db_session) == 3


def test_measured_signatures_get_no_job(db_session: Session) -> None:
    a = agent(db_session, "a")
    jobs = enqueue(db_session, a.profile_id, [8])
    [job] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE)
    record_result(db_session, job.id, a, ResultValues(median=1.0, spread=0.1, n=5))
    assert enqueue(db_session, a.profile_id, [8, 16]).keys() == {conv(16).digest}
    assert jobs[conv(8).digest] == job.id


def test_open_job_uniqueness_is_enforced_by_the_database(db_session: Session) -> None:
    a = agent(db_session, "a")
    enqueue(db_session, a.profile_id, [8])
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), write_transaction(db_session):
        db_session.add(
            Job(
                profile_id=a.profile_id,
                metric="latency_ms",
                kind="layer",
                signature_digest=conv(8).digest,
                signature_json=conv(8).key,
                max_attempts=3,
            )
        )


def test_model_jobs_merge_while_open(db_session: Session) -> None:
    a = agent(db_session, "a")
    first = enqueue_model_job(
        db_session, a.profile_id, "latency_ms", "ab" * 32, raw_sum=1.0, estimated=2.0, max_attempts=3
    )
    again = enqueue_model_job(
        db_session, a.profile_id, "latency_ms", "ab" * 32, raw_sum=5.0, estimated=9.0, max_attempts=3
    )
    assert again.id == first.id and again.estimated == 2.0


def test_claims_are_atomic_under_concurrency(database_url: str) -> None:
    database = Database.connect(database_url)
    try:
        with database.session() as session:
            agents = [agent(session, f"agent-{i}") for i in range(4)]
            jobs = enqueue(session, agents[0].profile_id, list(range(1, 61)))
        claimed: dict[str, list[str]] = {a.id: [] for a in agents}
        errors: list[BaseException] = []
        start = threading.Barrier(len(agents))

        def drain(me: AgentIdentity) -> None:
            try:
                with database.session() as session:  # own session, own connection
                    start.wait()
                    while batch := claim_jobs(session, me.profile_id, me.id, 3, lease_seconds=LEASE):
                        claimed[me.id].extend(job.id for job in batch)
            except BaseException as exc:  # re-raised below in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=drain, args=(a,)) for a in agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        everything = [job_id for ids in claimed.values() for job_id in ids]
        assert sorted(everything) == sorted(jobs.values())  # each exactly once
        assert sum(1 for ids in claimed.values() if ids) >= 2  # they really competed
        with database.session() as session:
            leased = session.scalars(select(Job)).all()
            assert all(job.status == "leased" and job.id in claimed[job.leased_by] for job in leased)
    finally:
        database.dispose()


def test_expired_leases_requeue_then_fail_with_reason(db_session: Session) -> None:
    a = agent(db_session, "a")
    [job_id] = enqueue(db_session, a.profile_id, [8], max_attempts=2).values()
    now = utcnow()
    [job] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE, now=now)
    assert job.attempt == 1

    assert requeue_expired(db_session, now + timedelta(seconds=LEASE - 1)).requeued == []
    report = requeue_expired(db_session, now + timedelta(seconds=LEASE + 1))
    assert report.requeued == [job_id] and report.failed == []
    with db_session.begin():
        job = get_job(db_session, job_id)
        assert (job.status, job.attempts, job.leased_by) == ("pending", 1, None)

    later = now + timedelta(seconds=100)
    [job] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE, now=later)
    assert job.attempt == 2
    report = requeue_expired(db_session, later + timedelta(seconds=LEASE + 1))
    assert report.failed == [job_id]
    with db_session.begin():
        job = get_job(db_session, job_id)
        assert job.status == "failed"
        assert job.failure_reason == f"lease expired 2 times (last agent {a.id})"
        assert db_session.get(Agent, a.id).jobs_failed == 2
    assert claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE) == []
    # asking again retries with a fresh job
    assert enqueue(db_session, a.profile_id, [8])[conv(8).digest] != job_id


def test_heartbeat_extends_only_a_live_lease_of_this_agent(db_session: Session) -> None:
    a, b = agent(db_session, "a"), agent(db_session, "b")
    enqueue(db_session, a.profile_id, [8])
    now = utcnow()
    [job] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE, now=now)
    job_id = job.id  # a failed call rolls back and expires the ORM object
    extended = heartbeat(db_session, job_id, a, lease_seconds=LEASE, now=now + timedelta(seconds=20))
    assert extended == now + timedelta(seconds=20 + LEASE)
    with pytest.raises(JobConflict, match="never leased to agent"):
        heartbeat(db_session, job_id, b, lease_seconds=LEASE)
    with pytest.raises(LeaseExpired, match="lease expired; lease the job again"):
        heartbeat(db_session, job_id, a, lease_seconds=LEASE, now=extended + timedelta(seconds=1))
    with pytest.raises(JobNotFound):
        heartbeat(db_session, "nope", a, lease_seconds=LEASE)


def test_results_are_idempotent_and_first_wins(db_session: Session) -> None:
    a, b = agent(db_session, "a"), agent(db_session, "b")
    enqueue(db_session, a.profile_id, [8])
    now = utcnow()
    [job] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE, now=now)
    requeue_expired(db_session, now + timedelta(seconds=LEASE + 1))
    [again] = claim_jobs(db_session, b.profile_id, b.id, 1, lease_seconds=LEASE)
    assert again.id == job.id

    late = record_result(db_session, job.id, a, ResultValues(median=2.0, spread=0.1, n=5))  # late but first
    assert (late.accepted, late.conflict, late.entry_written, late.job.status) == (True, False, True, "done")
    same = record_result(db_session, job.id, a, ResultValues(median=2.0, spread=0.1, n=5))
    assert (same.accepted, same.conflict, same.entry_written) == (False, False, False)
    other = record_result(db_session, job.id, b, ResultValues(median=3.0, spread=0.1, n=5))
    assert (other.accepted, other.conflict) == (False, True)

    with db_session.begin():
        [entry] = store.list_entries(db_session, a.profile_id)
        assert (entry.median, entry.agent_id) == (2.0, a.id)
        assert db_session.get(Agent, a.id).jobs_done == 1
        assert db_session.get(Agent, b.id).jobs_done == 0


def test_results_from_strangers_are_refused(db_session: Session) -> None:
    a, b = agent(db_session, "a"), agent(db_session, "b")
    elsewhere = agent(db_session, "c", device(cpu="another-cpu"))
    enqueue(db_session, a.profile_id, [8])
    [job] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE)
    job_id = job.id
    with pytest.raises(JobConflict, match="never leased to agent"):
        record_result(db_session, job_id, b, ResultValues(median=1.0, n=1))
    with pytest.raises(JobConflict, match="measures device profile"):
        record_result(db_session, job_id, elsewhere, ResultValues(median=1.0, n=1))
    assert entry_count(db_session, a.profile_id) == 0


def test_error_results_fail_the_job(db_session: Session) -> None:
    a = agent(db_session, "a")
    enqueue(db_session, a.profile_id, [8])
    [job] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE)
    outcome = record_result(db_session, job.id, a, ResultValues(error="op not supported"))
    assert outcome.job.status == "failed"
    assert "op not supported" in outcome.job.failure_reason
    assert entry_count(db_session, a.profile_id) == 0


def test_model_results_store_a_measurement_with_the_estimate(db_session: Session) -> None:
    a = agent(db_session, "a")
    enqueue_model_job(db_session, a.profile_id, "latency_ms", "ab" * 32, raw_sum=5.8, estimated=9.0, max_attempts=3)
    [job] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE)
    record_result(db_session, job.id, a, ResultValues(median=10.0, spread=0.02, n=30))
    with db_session.begin():
        [m] = store.list_measurements(db_session, a.profile_id)
        assert (m.measured, m.estimated, m.raw_sum, m.model_sha256) == (10.0, 9.0, 5.8, "ab" * 32)


def test_release_returns_the_job_without_counting_an_attempt(db_session: Session) -> None:
    a, b = agent(db_session, "a"), agent(db_session, "b")
    enqueue(db_session, a.profile_id, [8])
    [job] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE)
    job_id = job.id
    with pytest.raises(JobConflict):
        release_job(db_session, job_id, b)
    released, did = release_job(db_session, job_id, a)
    assert did and (released.status, released.attempts, released.leased_by) == ("pending", 0, None)
    assert release_job(db_session, job_id, a)[1] is False  # again: harmless no-op
    [same] = claim_jobs(db_session, b.profile_id, b.id, 1, lease_seconds=LEASE)
    assert same.id == job_id and same.attempt == 1


def test_a_lease_round_records_contact_sweeps_and_claims_in_one(db_session: Session) -> None:
    a, b = agent(db_session, "a"), agent(db_session, "b")
    expiring = list(enqueue(db_session, a.profile_id, [8]).values())
    now = utcnow()
    claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE, now=now)
    waiting = enqueue(db_session, a.profile_id, [9, 10])
    later = now + timedelta(seconds=LEASE + 1)

    lease = lease_jobs(db_session, b, 8, lease_seconds=LEASE, record_contact=True, now=later)
    assert lease.requeued == expiring  # a's lease expired on the way: back in the queue, claimed at once
    assert sorted(job.id for job in lease.jobs) == sorted([*expiring, *waiting.values()])
    assert {job.leased_by for job in lease.jobs} == {b.id}
    with db_session.begin():
        seen = db_session.get(Agent, b.id, populate_existing=True)
        assert seen.last_heartbeat_at == later and seen.jobs_failed == 0
        assert db_session.get(Agent, a.id, populate_existing=True).jobs_failed == 1


def test_an_idle_lease_round_records_contact_only_when_asked(db_session: Session) -> None:
    a = agent(db_session, "a")
    then = utcnow() + timedelta(minutes=5)
    assert lease_jobs(db_session, a, 8, lease_seconds=LEASE, record_contact=False, now=then).jobs == []
    with db_session.begin():
        assert db_session.get(Agent, a.id, populate_existing=True).last_heartbeat_at < then
    assert lease_jobs(db_session, a, 8, lease_seconds=LEASE, record_contact=True, now=then).jobs == []
    with db_session.begin():
        assert db_session.get(Agent, a.id, populate_existing=True).last_heartbeat_at == then


def test_a_batch_report_records_each_result_by_the_one_job_rules(db_session: Session) -> None:
    a, b = agent(db_session, "a"), agent(db_session, "b")
    enqueue(db_session, a.profile_id, [8, 9, 10, 11])
    enqueue_model_job(db_session, a.profile_id, "latency_ms", "cd" * 32, raw_sum=1.0, estimated=2.0, max_attempts=3)
    jobs = [job.id for job in claim_jobs(db_session, a.profile_id, a.id, 5, lease_seconds=LEASE)]
    model = next(job_id for job_id in jobs if get_job_kind(db_session, job_id) == "model")
    layers = [job_id for job_id in jobs if job_id != model]
    enqueue(db_session, a.profile_id, [12])
    [foreign] = [job.id for job in claim_jobs(db_session, b.profile_id, b.id, 1, lease_seconds=LEASE)]

    reports = [
        (layers[0], ResultValues(median=1.0, spread=0.1, n=5)),
        (layers[1], ResultValues(median=2.0, n=5)),
        (layers[0], ResultValues(median=1.0, spread=0.1, n=5)),  # the same again in one batch
        (layers[2], ResultValues(error="op not supported")),
        (layers[3], ResultValues(median=-1.0, n=5)),  # invalid: refused, the others still count
        (model, ResultValues(median=7.0, spread=0.01, n=30)),
        ("no-such-job", ResultValues(median=1.0, n=1)),
        (foreign, ResultValues(median=1.0, n=1)),  # b's job
    ]
    outcomes = record_results(db_session, a, reports)
    assert [o.job_id for o in outcomes] == [job_id for job_id, _ in reports]
    summary = [
        (o.value.accepted, o.value.conflict, o.value.entry_written, o.value.job.status) if o.value else type(o.error)
        for o in outcomes
    ]
    assert summary == [
        (True, False, True, "done"),
        (True, False, True, "done"),
        (False, False, False, "done"),
        (True, False, False, "failed"),
        InvalidResult,
        (True, False, True, "done"),
        JobNotFound,
        JobConflict,
    ]
    assert "'median' must be a finite number >= 0" in str(outcomes[4].error)
    assert "never leased to agent" in str(outcomes[7].error)

    with db_session.begin():
        entries = {e.signature_json: (e.median, e.spread, e.agent_id) for e in store.list_entries(db_session, a.profile_id)}
        assert sorted(entries.values()) == [(1.0, 0.1, a.id), (2.0, 0.0, a.id)]
        [m] = store.list_measurements(db_session, a.profile_id)
        assert (m.measured, m.estimated) == (7.0, 2.0)
        counted = db_session.get(Agent, a.id, populate_existing=True)
        assert (counted.jobs_done, counted.jobs_failed) == (3, 1)
        assert get_job(db_session, layers[3]).status == "leased"  # the refused result changed nothing
        assert get_job(db_session, foreign).status == "leased"

    # The whole report again (a retried request): nothing changes, nothing conflicts.
    again = record_results(db_session, a, reports[:2])
    assert [(o.value.accepted, o.value.conflict) for o in again] == [(False, False), (False, False)]
    assert entry_count(db_session, a.profile_id) == 2


def test_a_batch_report_keeps_a_table_entry_another_writer_stored_first(db_session: Session) -> None:
    a = agent(db_session, "a")
    enqueue(db_session, a.profile_id, [8, 9])
    jobs = claim_jobs(db_session, a.profile_id, a.id, 2, lease_seconds=LEASE)
    first = jobs[0]
    with write_transaction(db_session):  # e.g. a table import measured the same layer meanwhile
        store.upsert_entry(
            db_session, profile_id=a.profile_id, metric="latency_ms",
            signature=store.StoredSignature(first.signature_digest, first.signature_json), median=9.0, spread=0.0, n=1,
        )
    outcomes = record_results(db_session, a, [(job.id, ResultValues(median=1.0, n=3)) for job in jobs])
    assert [(o.value.accepted, o.value.entry_written) for o in outcomes] == [(True, False), (True, True)]
    with db_session.begin():
        assert sorted(e.median for e in store.list_entries(db_session, a.profile_id)) == [1.0, 9.0]


def get_job_kind(session: Session, job_id: str) -> str:
    with session.begin():
        return get_job(session, job_id).kind


def test_a_batch_heartbeat_extends_each_live_lease_and_refuses_the_rest(db_session: Session) -> None:
    a, b = agent(db_session, "a"), agent(db_session, "b")
    enqueue(db_session, a.profile_id, [8, 9, 10])
    now = utcnow()
    live, expiring, released = [job.id for job in claim_jobs(db_session, a.profile_id, a.id, 3, lease_seconds=LEASE, now=now)]
    release_job(db_session, released, a)
    [taken] = claim_jobs(db_session, b.profile_id, b.id, 1, lease_seconds=LEASE, now=now)
    assert taken.id == released
    with write_transaction(db_session):  # one lease ran out (not swept yet)
        db_session.get(Job, expiring).lease_expires_at = now + timedelta(seconds=5)

    later = now + timedelta(seconds=10)
    beats = heartbeat_jobs(db_session, [live, expiring, released, "nope"], a, lease_seconds=LEASE, now=later)
    assert [b_.job_id for b_ in beats] == [live, expiring, released, "nope"]
    assert beats[0].value == later + timedelta(seconds=LEASE) and beats[0].error is None
    assert [type(b_.error) for b_ in beats[1:]] == [LeaseExpired, LeaseExpired, JobNotFound]
    with db_session.begin():
        assert get_job(db_session, live).lease_expires_at == later + timedelta(seconds=LEASE)
        assert get_job(db_session, expiring).lease_expires_at == now + timedelta(seconds=5)  # not extended
        assert get_job(db_session, released).leased_by == b.id


def test_a_claim_reads_jobs_afresh_in_a_session_that_saw_them_before(db_session: Session) -> None:
    a, b = agent(db_session, "a"), agent(db_session, "b")
    [job_id] = enqueue(db_session, a.profile_id, [8]).values()
    now = utcnow()
    seen = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE, now=now)  # db_session keeps it
    with Session(bind=db_session.get_bind(), expire_on_commit=False) as other:  # meanwhile, elsewhere:
        requeue_expired(other, now + timedelta(seconds=LEASE + 1))
        claim_jobs(other, b.profile_id, b.id, 1, lease_seconds=LEASE, now=now + timedelta(seconds=LEASE + 2))
        requeue_expired(other, now + timedelta(seconds=3 * LEASE))
    [again] = claim_jobs(db_session, a.profile_id, a.id, 1, lease_seconds=LEASE, now=now + timedelta(seconds=4 * LEASE))
    assert again.id == job_id
    assert again is seen[0]  # the same object, read afresh
    assert (again.lessees, again.attempt) == ([a.id, b.id], 3)  # b may still report late
