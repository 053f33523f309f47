"""Device-agent endpoints: register, lease (long poll), heartbeat, results (one or a batch), release."""

from __future__ import annotations

import hmac
import json
import time

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from service.api.deps import CurrentAgent, DatabaseDep, QueueSignalDep, SessionDep, SettingsDep
from service.api.errors import api_error, problem_responses, unauthorized
from service.api.schemas import (
    HeartbeatOut,
    HeartbeatsIn,
    HeartbeatsOut,
    JobHeartbeatOut,
    JobOut,
    JobRefused,
    LeaseIn,
    LeaseOut,
    RegistrationIn,
    RegistrationOut,
    ReleaseOut,
    ReportedResultOut,
    ResultIn,
    ResultOut,
    ResultsIn,
    ResultsOut,
)
from service.db.agents import register_agent
from service.db.tables import Job
from service.queue import Heartbeat, NextLease, ReportOutcome, ResultValues
from service.queue import heartbeat, heartbeat_jobs, lease_jobs, record_result, record_results_and_lease, release_job

router = APIRouter(tags=["agents"])

# How often a waiting lease re-checks the queue for jobs enqueued by other processes
# (jobs enqueued in this process wake it at once through the QueueSignal), and sweeps
# expired leases. On PostgreSQL other processes' enqueues, releases and expiry sweeps wake
# it too (LISTEN/NOTIFY): the re-check is only a safety net there, and rarer, since every
# waiting agent's re-check is a transaction.
LEASE_POLL_SECONDS = 0.2
LISTENED_LEASE_POLL_SECONDS = 2.0


@router.post("/agents/register", response_model=RegistrationOut)
def register(body: RegistrationIn, session: SessionDep, settings: SettingsDep) -> RegistrationOut:
    if not hmac.compare_digest(body.token.encode(), settings.agent_token.encode()):
        raise unauthorized("wrong agent token; use the server's NETADAPT_AGENT_TOKEN")
    registered = register_agent(session, body.name, body.device.description())
    return RegistrationOut(
        agent_id=registered.agent.id,
        secret=registered.secret,
        profile_id=registered.profile.id,
        lease_seconds=settings.lease_seconds,
        heartbeat_seconds=settings.heartbeat_seconds,
    )


_JOB_ERRORS = problem_responses(
    404,
    409,
    c404="No job with this id",
    c409="The job belongs to another device profile, was never leased to this agent, has ended, or its "
    "lease expired; drop it",
)


@router.post(
    "/agents/{agent_id}/lease",
    response_model=LeaseOut,
    responses=problem_responses(403, c403="The secret belongs to another agent than the one in the path"),
)
async def lease(
    agent_id: str,
    body: LeaseIn,
    request: Request,
    agent: CurrentAgent,
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    signal: QueueSignalDep,
) -> LeaseOut:
    if agent.id != agent_id:
        raise api_error(403, f"this secret belongs to agent {agent.id}, not {agent_id}")
    deadline = time.monotonic() + min(body.wait_seconds, settings.long_poll_seconds)
    poll_seconds = LEASE_POLL_SECONDS if database.listener is None else LISTENED_LEASE_POLL_SECONDS

    def claim(first_round: bool) -> tuple[list[JobOut], bool]:
        # One transaction: contact (first round: an idle agent is still online), expired
        # leases back to the queue, the claim.
        lease = lease_jobs(
            session, agent, body.max_jobs, lease_seconds=settings.lease_seconds, record_contact=first_round
        )
        return [job_out(job) for job in lease.jobs], bool(lease.requeued)

    first_round = True
    while True:
        if signal.closed or await request.is_disconnected():
            # Jobs leased now would sit out a whole lease before anyone else got them (the
            # agent is gone, or the server is shutting down: the agent asks again).
            return LeaseOut(jobs=[])
        wake = signal.waiter()  # before the check, so no enqueue slips between
        jobs, requeued = await run_in_threadpool(claim, first_round)
        first_round = False
        if requeued:
            signal.notify()  # jobs are claimable again: wake the other waiting agents
        remaining = deadline - time.monotonic()
        if jobs or remaining <= 0:
            return LeaseOut(jobs=jobs)
        await signal.wait(wake, min(poll_seconds, remaining))


_BATCH_ITEM_ERRORS = (
    "Per result: `error` says why it was not recorded (404 unknown job, 409 not this agent's or "
    "already ended, 422 invalid numbers); the others are recorded all the same"
)


@router.post(
    "/agents/{agent_id}/results",
    response_model=ResultsOut,
    responses=problem_responses(403, c403="The secret belongs to another agent than the one in the path"),
    description="The results of a lease in one request, recorded in one transaction, each idempotent as "
    f"`PUT /v1/jobs/{{job_id}}/result`. {_BATCH_ITEM_ERRORS}. With `lease`, up to `lease.max_jobs` "
    "more jobs are claimed after the results are recorded (as a lease that does not wait) and returned "
    "in `jobs`: one request per batch instead of two.",
)
def report_results(
    agent_id: str,
    body: ResultsIn,
    agent: CurrentAgent,
    session: SessionDep,
    settings: SettingsDep,
    signal: QueueSignalDep,
) -> ResultsOut:
    if agent.id != agent_id:
        raise api_error(403, f"this secret belongs to agent {agent.id}, not {agent_id}")
    reports = [
        (item.job_id, ResultValues(median=item.median, spread=item.spread, n=item.n, error=item.error, details=item.details))
        for item in body.results
    ]
    # Not while shutting down: the agent would hold jobs nobody measures until their lease
    # expired (it leases again from the next server).
    next_lease = None
    if body.lease is not None and not signal.closed:
        next_lease = NextLease(body.lease.max_jobs, settings.lease_seconds)
    outcomes, lease = record_results_and_lease(session, agent, reports, next_lease)
    if lease.requeued:
        signal.notify()  # expired leases are claimable again: wake the waiting agents
    return ResultsOut(results=[_report_out(o) for o in outcomes], jobs=[job_out(job) for job in lease.jobs])


def _report_out(report: ReportOutcome) -> ReportedResultOut:
    if report.error is not None:
        refused = JobRefused(status=report.error.http_status, detail=str(report.error))
        return ReportedResultOut(job_id=report.job_id, status=None, accepted=False, conflict=False, error=refused)
    assert report.value is not None
    outcome = report.value
    return ReportedResultOut(
        job_id=report.job_id, status=outcome.job.status, accepted=outcome.accepted, conflict=outcome.conflict
    )


@router.post(
    "/agents/{agent_id}/heartbeat",
    response_model=HeartbeatsOut,
    responses=problem_responses(403, c403="The secret belongs to another agent than the one in the path"),
    description="Extend the leases of a batch's jobs in one request and one transaction, each as "
    "`POST /v1/jobs/{job_id}/heartbeat`; a refused job carries `error` (404 unknown, 409 the lease is "
    "no longer this agent's), the others are extended all the same.",
)
def extend_leases(
    agent_id: str, body: HeartbeatsIn, agent: CurrentAgent, session: SessionDep, settings: SettingsDep
) -> HeartbeatsOut:
    if agent.id != agent_id:
        raise api_error(403, f"this secret belongs to agent {agent.id}, not {agent_id}")
    beats = heartbeat_jobs(session, body.job_ids, agent, lease_seconds=settings.lease_seconds)
    return HeartbeatsOut(jobs=[_heartbeat_out(beat) for beat in beats])


def _heartbeat_out(beat: Heartbeat) -> JobHeartbeatOut:
    if beat.error is not None:
        refused = JobRefused(status=beat.error.http_status, detail=str(beat.error))
        return JobHeartbeatOut(job_id=beat.job_id, lease_expires_at=None, error=refused)
    assert beat.value is not None
    return JobHeartbeatOut(job_id=beat.job_id, lease_expires_at=beat.value.isoformat())


@router.post("/jobs/{job_id}/heartbeat", response_model=HeartbeatOut, responses=_JOB_ERRORS)
def extend_lease(job_id: str, agent: CurrentAgent, session: SessionDep, settings: SettingsDep) -> HeartbeatOut:
    expires = heartbeat(session, job_id, agent, lease_seconds=settings.lease_seconds)
    return HeartbeatOut(lease_expires_at=expires.isoformat())


@router.put("/jobs/{job_id}/result", response_model=ResultOut, responses=_JOB_ERRORS)
def put_result(job_id: str, body: ResultIn, agent: CurrentAgent, session: SessionDep) -> ResultOut:
    values = ResultValues(median=body.median, spread=body.spread, n=body.n, error=body.error, details=body.details)
    outcome = record_result(session, job_id, agent, values)
    return ResultOut(job_id=job_id, status=outcome.job.status, accepted=outcome.accepted, conflict=outcome.conflict)


@router.post("/jobs/{job_id}/release", response_model=ReleaseOut, responses=_JOB_ERRORS)
def release(job_id: str, agent: CurrentAgent, session: SessionDep, signal: QueueSignalDep) -> ReleaseOut:
    job, released = release_job(session, job_id, agent)
    if released:
        signal.notify()
    return ReleaseOut(job_id=job_id, status=job.status, released=released)


def job_out(job: Job) -> JobOut:
    assert job.lease_expires_at is not None
    return JobOut(
        id=job.id,
        kind=job.kind,
        metric=job.metric,
        lease_expires_at=job.lease_expires_at.isoformat(),
        attempt=job.attempt,
        signature=json.loads(job.signature_json) if job.signature_json else None,
        model_sha256=job.model_sha256,
        dtype=job.dtype,
    )
