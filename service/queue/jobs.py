"""The measurement job queue: enqueue, claim (lease), heartbeat, release, expire.

Every function here is one unit of work: it opens its own write transaction
(`write_transaction`: BEGIN IMMEDIATE on SQLite), so a caller cannot accidentally
split a read-check-write across transactions. Pass a session with no open transaction.

On PostgreSQL, where writers do not exclude each other, three kinds of lock do the job
of SQLite's database-wide write lock (SQLite ignores all three):

- claims and expiry: SELECT ... FOR UPDATE SKIP LOCKED (`_locked`) lets many agents and
  servers claim from one queue at once without handing a job out twice, and without
  waiting for rows another claim holds;
- heartbeats, releases and results: FOR UPDATE on the one job row (`job_for_agent`),
  so two reports of the same job cannot both see it unfinished;
- enqueues: a transaction-scoped advisory lock per (profile, metric)
  (`_lock_enqueues`), so concurrent identical requests merge into one job instead of
  colliding on the open-job unique indexes (or deadlocking on each other's inserts).

Whatever makes jobs claimable (enqueue, expiry, release) also NOTIFYs every server's
listener there (service.db.notify), so long polls on any server wake at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, Update, bindparam, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from latency_tables.db import is_postgresql, is_sqlite, utcnow, write_transaction
from latency_tables.signature import LayerSignature
from latency_tables.store import lookup_entries, new_id
from service.db.agents import AgentIdentity, mark_seen, note_agent
from service.db.tables import DONE, FAILED, LEASED, OPEN_STATUSES, PENDING, Job
from service.db.notify import JOBS_CHANNEL, notify
from service.queue.errors import JobConflict, JobNotFound, LeaseExpired, QueueError
from service.queue.job_answers import JobAnswer

_IN_CHUNK = 500


def _locked(stmt: Select) -> Select:
    """Lock the selected job rows for this transaction, skipping rows others hold, and read
    them afresh: a session keeps the jobs it loaded before (a long poll's earlier rounds),
    and the claim and the sweep write from what they read."""
    return stmt.with_for_update(skip_locked=True).execution_options(populate_existing=True)


def _lock_enqueues(session: Session, profile_id: str, metric: str) -> None:
    """PostgreSQL: wait until no other transaction enqueues for (profile, metric); held
    until commit. Claims and results never take it."""
    if is_postgresql(session):
        key = f"netadapt-enqueue:{profile_id}:{metric}"
        session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


# ---- enqueue -------------------------------------------------------------------------


def enqueue_layer_jobs(
    session: Session,
    profile_id: str,
    metric: str,
    signatures: Iterable[LayerSignature],
    *,
    max_attempts: int,
) -> dict[str, str]:
    """Make sure every signature without a table entry has one open job: {digest: job id}.

    Signatures already in the table get no job and are not in the result. A signature
    that already has a pending or leased job reuses it (identical requests from
    concurrent runs merge). Failed jobs are not reused: asking again retries.
    """
    by_digest = {s.digest: s for s in signatures}
    if not by_digest:
        return {}
    with write_transaction(session):
        _lock_enqueues(session, profile_id, metric)
        measured = lookup_entries(session, profile_id, metric, by_digest)
        missing = [d for d in by_digest if d not in measured]
        jobs = _open_layer_jobs(session, profile_id, metric, missing)
        added = False
        for digest in missing:
            if digest in jobs:
                continue
            signature = by_digest[digest]
            job = Job(
                id=new_id(),  # set here so one flush at commit inserts them all
                profile_id=profile_id,
                metric=metric,
                kind="layer",
                signature_digest=digest,
                signature_json=signature.key,
                dtype=signature.dtype,
                max_attempts=max_attempts,
            )
            session.add(job)
            jobs[digest] = job.id
            added = True
        if added:
            notify(session, JOBS_CHANNEL, profile_id)  # wake long polls on every server
    return jobs


def _open_layer_jobs(session: Session, profile_id: str, metric: str, digests: Sequence[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for start in range(0, len(digests), _IN_CHUNK):
        rows = session.execute(
            select(Job.signature_digest, Job.id).where(
                Job.profile_id == profile_id,
                Job.metric == metric,
                Job.kind == "layer",
                Job.status.in_(OPEN_STATUSES),
                Job.signature_digest.in_(digests[start : start + _IN_CHUNK]),
            )
        )
        found.update((digest, job_id) for digest, job_id in rows)
    return found


def enqueue_model_job(
    session: Session,
    profile_id: str,
    metric: str,
    model_sha256: str,
    *,
    raw_sum: float | None,
    estimated: float | None,
    max_attempts: int,
    dtype: str = "float32",
) -> Job:
    """A job measuring a whole model (its .tflite stored as blob `model_sha256`).

    An identical model already waiting (pending/leased) is not measured twice: that
    job is returned, keeping the estimate it was enqueued with.
    """
    with write_transaction(session):
        _lock_enqueues(session, profile_id, metric)
        open_job = session.scalars(
            select(Job).where(
                Job.profile_id == profile_id,
                Job.metric == metric,
                Job.kind == "model",
                Job.model_sha256 == model_sha256,
                Job.status.in_(OPEN_STATUSES),
            )
        ).first()
        if open_job is not None:
            return open_job
        job = Job(
            profile_id=profile_id,
            metric=metric,
            kind="model",
            model_sha256=model_sha256,
            dtype=dtype,
            raw_sum=raw_sum,
            estimated=estimated,
            max_attempts=max_attempts,
        )
        session.add(job)
        notify(session, JOBS_CHANNEL, profile_id)
    return job


# ---- claim / heartbeat / release -----------------------------------------------------


def claim_jobs(
    session: Session,
    profile_id: str,
    agent_id: str,
    max_jobs: int,
    *,
    lease_seconds: float,
    now: datetime | None = None,
) -> list[Job]:
    """Lease up to `max_jobs` pending jobs of the profile to the agent, oldest first.

    Atomic: two agents never get the same job (write lock on SQLite, row locks with
    SKIP LOCKED on PostgreSQL).
    """
    now = now or utcnow()
    if is_sqlite(session) and not _any_pending(session, profile_id):
        return []
    with write_transaction(session):
        jobs = _claim_locked(session, profile_id, agent_id, max_jobs, lease_seconds, now)
        if jobs:
            mark_seen(session, agent_id, now)
    return jobs


@dataclass
class Lease:
    jobs: list[Job]
    requeued: list[str]  # expired leases this round returned to the queue: wake other waiters


def lease_jobs(
    session: Session,
    agent: AgentIdentity,
    max_jobs: int,
    *,
    lease_seconds: float,
    record_contact: bool,
    now: datetime | None = None,
) -> Lease:
    """One round of an agent's lease request, in one write transaction: note the agent's
    contact (`record_contact`: an idle agent is still online), return expired leases to
    the queue, and claim up to `max_jobs` of the agent's profile.

    Sweeping here, not only in the server's background loop, makes expiry deterministic
    for whoever asks next. On SQLite a round that would write nothing (no contact to
    record, nothing pending or expired) is found with a read and takes no write lock:
    most rounds of a long poll are like that.
    """
    now = now or utcnow()
    if not record_contact and is_sqlite(session):
        with session.begin():
            idle = session.scalar(_pending(agent.profile_id).with_only_columns(Job.id).limit(1)) is None and (
                session.scalar(_expired(now).with_only_columns(Job.id).limit(1)) is None
            )
        if idle:
            return Lease([], [])
    with write_transaction(session):
        lease = lease_round_locked(session, agent, max_jobs, lease_seconds, now)
        if record_contact or lease.jobs:
            mark_seen(session, agent.id, now)
    return lease


def lease_round_locked(
    session: Session, agent: AgentIdentity, max_jobs: int, lease_seconds: float, now: datetime
) -> Lease:
    """Expired leases back to the queue, then claim up to `max_jobs` for `agent`; inside
    the caller's write transaction (which records the agent's contact)."""
    report = RequeueReport()
    _requeue_locked(session, now, report)
    jobs = _claim_locked(session, agent.profile_id, agent.id, max_jobs, lease_seconds, now)
    return Lease(jobs, report.requeued)


def _any_pending(session: Session, profile_id: str) -> bool:
    """A cheap read before queueing for SQLite's database-wide write lock (most long-poll
    rounds find nothing). PostgreSQL's SKIP LOCKED select is that cheap read already."""
    with session.begin():
        return session.scalar(_pending(profile_id).with_only_columns(Job.id).limit(1)) is not None


def _claim_locked(
    session: Session, profile_id: str, agent_id: str, max_jobs: int, lease_seconds: float, now: datetime
) -> list[Job]:
    """Inside the caller's write transaction."""
    jobs = list(session.scalars(_locked(_pending(profile_id).order_by(Job.created_at, Job.id).limit(max_jobs))))
    expires = now + timedelta(seconds=lease_seconds)
    lease = {"status": LEASED, "leased_by": agent_id, "lease_expires_at": expires}
    update_jobs(session, [(job, {**lease, "lessees_json": job.with_lessee(agent_id)}) for job in jobs])
    return jobs


def update_jobs(session: Session, changes: Sequence[tuple[Job, dict[str, Any]]]) -> None:
    """Write new column values of loaded jobs, inside the caller's transaction: one
    executemany UPDATE per set of columns, and the values set on the ORM objects as
    committed. The hot paths (claims, results) write this way rather than by the ORM's
    unit of work, whose flush cost more server CPU than the UPDATEs themselves
    (benchmarks/agents_load.py --py-spy)."""
    by_columns: dict[tuple[str, ...], list[tuple[Job, dict[str, Any]]]] = {}
    for job, values in changes:
        by_columns.setdefault(tuple(sorted(values)), []).append((job, values))
    for columns, group in by_columns.items():
        rows = [{"job_id_": job.id, **{f"{column}_": value for column, value in values.items()}} for job, values in group]
        session.connection().execute(_update_statement(columns), rows)
        for job, values in group:
            show_written(job, values)


@lru_cache(maxsize=64)
def _update_statement(columns: tuple[str, ...]) -> Update:
    """UPDATE jobs SET `columns` for one id: built once per set of columns (building it
    each time showed in the report's profile; SQLAlchemy caches only the compiled form)."""
    table = Job.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("job_id_"))
        .values({column: bindparam(f"{column}_") for column in columns})
    )


def show_written(job: Job, values: dict[str, Any]) -> None:
    """Set `values` on the ORM job as already written (update_jobs writes them)."""
    for column, value in values.items():
        set_committed_value(job, column, value)


def _pending(profile_id: str) -> Select:
    return select(Job).where(Job.profile_id == profile_id, Job.status == PENDING)


def heartbeat(
    session: Session,
    job_id: str,
    agent: AgentIdentity,
    *,
    lease_seconds: float,
    now: datetime | None = None,
) -> datetime:
    """Extend the agent's lease on the job; the new expiry time (else the QueueError)."""
    (beat,) = heartbeat_jobs(session, [job_id], agent, lease_seconds=lease_seconds, now=now)
    return beat.unwrap()


# One job of a heartbeat: its new lease expiry, or why the lease is not the agent's.
Heartbeat = JobAnswer[datetime]


def heartbeat_jobs(
    session: Session,
    job_ids: Sequence[str],
    agent: AgentIdentity,
    *,
    lease_seconds: float,
    now: datetime | None = None,
) -> list[Heartbeat]:
    """Extend the agent's leases on `job_ids` in one transaction (one outcome per id, in
    order): a batch's jobs in one request, each refused on its own (an expired or lost
    lease does not stop the others)."""
    now = now or utcnow()
    expires = now + timedelta(seconds=lease_seconds)
    beats: list[Heartbeat] = []
    with write_transaction(session):
        jobs = jobs_for_agent(session, job_ids)
        extended: list[tuple[Job, dict[str, Any]]] = []
        for job_id in job_ids:
            job = jobs.get(job_id)
            try:
                if job is None:
                    raise JobNotFound(job_id)
                check_profile(job, agent)
                if job.status != LEASED or job.leased_by != agent.id:
                    raise not_held_error(job, agent)
                if job.lease_expires_at is not None and job.lease_expires_at <= now:
                    raise LeaseExpired(job_id)
            except QueueError as exc:
                beats.append(Heartbeat(job_id, error=exc))
                continue
            extended.append((job, {"lease_expires_at": expires}))
            beats.append(Heartbeat(job_id, expires))
        update_jobs(session, extended)
        if extended:
            mark_seen(session, agent.id, now)
    return beats


def release_job(session: Session, job_id: str, agent: AgentIdentity) -> tuple[Job, bool]:
    """Give a leased job back to the queue without counting an attempt: (job, released).

    Releasing a job the agent held earlier but no longer holds is a harmless no-op (an
    agent shutting down may not know its lease expired).
    """
    with write_transaction(session):
        job = job_for_agent(session, job_id, agent)
        if job.status == LEASED and job.leased_by == agent.id:
            job.status = PENDING
            job.leased_by = None
            job.lease_expires_at = None
            notify(session, JOBS_CHANNEL, job.profile_id)
            return job, True
        if agent.id in job.lessees:
            return job, False
        raise not_held_error(job, agent)


def job_for_agent(session: Session, job_id: str, agent: AgentIdentity) -> Job:
    """The job, if it exists and belongs to the agent's device profile; row-locked until the
    caller's transaction ends (PostgreSQL), and read afresh, not from the session's cache."""
    job = session.get(Job, job_id, with_for_update=True, populate_existing=True)
    if job is None:
        raise JobNotFound(job_id)
    check_profile(job, agent)
    return job


def jobs_for_agent(session: Session, job_ids: Sequence[str]) -> dict[str, Job]:
    """The jobs that exist among `job_ids`, row-locked in id order (two batches locking
    overlapping jobs cannot deadlock) and read afresh; check each with `check_profile`."""
    found: dict[str, Job] = {}
    wanted = sorted(set(job_ids))
    for start in range(0, len(wanted), _IN_CHUNK):
        stmt = select(Job).where(Job.id.in_(wanted[start : start + _IN_CHUNK])).order_by(Job.id)
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
        found.update((job.id, job) for job in session.scalars(stmt))
    return found


def check_profile(job: Job, agent: AgentIdentity) -> None:
    if job.profile_id != agent.profile_id:
        raise JobConflict(
            f"job {job.id} measures device profile {job.profile_id}, but agent {agent.id} "
            f"measures profile {agent.profile_id}"
        )


def not_held_error(job: Job, agent: AgentIdentity) -> JobConflict:
    """Why the agent may not touch a job it does not hold now."""
    if agent.id not in job.lessees:
        return JobConflict(f"job {job.id} was never leased to agent {agent.id}; lease jobs before reporting on them")
    if job.status == DONE:
        return JobConflict(f"job {job.id} is already done; drop it")
    if job.status == FAILED:
        return JobConflict(f"job {job.id} has failed ({job.failure_reason}); drop it")
    return LeaseExpired(job.id)


# ---- expiry --------------------------------------------------------------------------


@dataclass
class RequeueReport:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def requeue_expired(session: Session, now: datetime | None = None) -> RequeueReport:
    """Return leases that expired by `now` to the queue; fail jobs out of attempts."""
    now = now or utcnow()
    report = RequeueReport()
    # Read first: nearly every call finds nothing and need not take the write lock.
    with session.begin():
        if session.scalar(_expired(now).with_only_columns(Job.id).limit(1)) is None:
            return report
    with write_transaction(session):
        _requeue_locked(session, now, report)
    return report


def _requeue_locked(session: Session, now: datetime, report: RequeueReport) -> None:
    """Inside the caller's write transaction."""
    for job in session.scalars(_locked(_expired(now))):
        last_agent = job.leased_by
        job.attempts += 1
        job.leased_by = None
        job.lease_expires_at = None
        if last_agent is not None:
            _count_failure(session, last_agent)
        if job.attempts >= job.max_attempts:
            job.status = FAILED
            job.failure_reason = f"lease expired {job.attempts} times (last agent {last_agent})"
            job.finished_at = now
            report.failed.append(job.id)
        else:
            job.status = PENDING
            report.requeued.append(job.id)
            notify(session, JOBS_CHANNEL, job.profile_id)


def _expired(now: datetime) -> Select:
    return select(Job).where(Job.status == LEASED, Job.lease_expires_at <= now)


def _count_failure(session: Session, agent_id: str) -> None:
    note_agent(session, agent_id, jobs_failed=1)


# ---- reads ---------------------------------------------------------------------------


def get_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def count_jobs_by_status(session: Session, profile_id: str) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).where(Job.profile_id == profile_id).group_by(Job.status))
    return {status: int(count) for status, count in rows}
