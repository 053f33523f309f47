"""Recording an agent's result for a job: idempotent, and written with the table entry.

Rules (the protocol promises a late or duplicate result is harmless):

- only agents that leased the job at some point may report (others: JobConflict);
- a job that already has a result is never changed: the same result again is a quiet
  no-op, a different one is a no-op flagged as `conflict` (both succeed);
- otherwise the first result wins, even from an agent whose lease expired meanwhile
  (late but first): the measurement is as good as anyone's on that profile;
- the table entry (layer jobs) or whole-model measurement (model jobs) is written in
  the same transaction as the job's new state, so neither exists without the other.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from latency_tables.db import utcnow, write_transaction
from latency_tables.store import StoredSignature, add_model_measurement, entry_row, insert_new_entries
from service.db.agents import AgentIdentity, note_agent
from service.db.tables import DONE, FAILED, Job
from service.queue.errors import InvalidResult, JobNotFound, QueueError
from service.queue.job_answers import JobAnswer
from service.queue.jobs import (
    Lease,
    check_profile,
    jobs_for_agent,
    lease_round_locked,
    not_held_error,
    show_written,
    update_jobs,
)


@dataclass(frozen=True)
class ResultValues:
    """A measurement (median/spread/n) or an error, as an agent reported it."""

    median: float | None = None
    spread: float | None = None
    n: int | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.error is not None:
            return
        if self.median is None or self.n is None:
            raise InvalidResult("a result needs 'median' and 'n' (or 'error' when the job cannot be measured)")
        if not math.isfinite(self.median) or self.median < 0:
            raise InvalidResult(f"'median' must be a finite number >= 0, got {self.median!r}")
        if self.spread is not None and (not math.isfinite(self.spread) or self.spread < 0):
            raise InvalidResult(f"'spread' must be a finite number >= 0, got {self.spread!r}")
        if self.n < 1:
            raise InvalidResult(f"'n' must be >= 1, got {self.n!r}")

    def same_as(self, job: Job) -> bool:
        return (self.median, self.stored_spread(), self.n, self.error) == (
            job.result_median,
            job.result_spread,
            job.result_n,
            job.result_error,
        )

    def stored_spread(self) -> float | None:
        if self.error is not None:
            return self.spread
        return 0.0 if self.spread is None else self.spread


@dataclass(frozen=True)
class RecordOutcome:
    job: Job
    accepted: bool  # this call set the job's result
    conflict: bool  # the job already had a different result; this one was dropped
    entry_written: bool  # a new table entry / model measurement was stored


# One result of a batch report: recorded (its RecordOutcome) or refused.
ReportOutcome = JobAnswer[RecordOutcome]


def record_result(
    session: Session,
    job_id: str,
    agent: AgentIdentity,
    result: ResultValues,
    now: datetime | None = None,
) -> RecordOutcome:
    """One result; raises the QueueError that refused it."""
    (report,) = record_results(session, agent, [(job_id, result)], now)
    return report.unwrap()


@dataclass(frozen=True)
class NextLease:
    """Claim jobs for the reporting agent in the results' transaction."""

    max_jobs: int
    lease_seconds: float


def record_results(
    session: Session,
    agent: AgentIdentity,
    reports: Sequence[tuple[str, ResultValues]],
    now: datetime | None = None,
) -> list[ReportOutcome]:
    """The results of a lease, in one write transaction, each by the rules above: one
    outcome per report, in order. A refused result (unknown job, not this agent's,
    invalid numbers) does not stop the others; a job reported twice in one batch is
    recorded once (the second is the idempotent repeat)."""
    outcomes, _ = record_results_and_lease(session, agent, reports, None, now)
    return outcomes


def record_results_and_lease(
    session: Session,
    agent: AgentIdentity,
    reports: Sequence[tuple[str, ResultValues]],
    next_lease: NextLease | None,
    now: datetime | None = None,
) -> tuple[list[ReportOutcome], Lease]:
    """`record_results`, and with `next_lease` a lease round in the same transaction
    (expired leases back to the queue, then the claim, as `lease_jobs`): one commit per
    batch instead of two, which on PostgreSQL is fewer round trips for every report."""
    now = now or utcnow()
    invalid: dict[int, QueueError] = {}
    for index, (_, values) in enumerate(reports):
        try:
            values.check()
        except InvalidResult as exc:
            invalid[index] = exc
    outcomes: list[ReportOutcome] = []
    with write_transaction(session):
        jobs = jobs_for_agent(session, [job_id for i, (job_id, _) in enumerate(reports) if i not in invalid])
        done = failed = 0
        measured: list[tuple[Job, ResultValues]] = []
        changes: list[tuple[Job, dict[str, Any]]] = []
        for index, (job_id, values) in enumerate(reports):
            if index in invalid:
                outcomes.append(ReportOutcome(job_id, error=invalid[index]))
                continue
            job = jobs.get(job_id)
            try:
                if job is None:
                    raise JobNotFound(job_id)
                check_profile(job, agent)
                if agent.id not in job.lessees:
                    raise not_held_error(job, agent)
            except QueueError as exc:
                outcomes.append(ReportOutcome(job_id, error=exc))
                continue
            if _has_result(job):
                same = values.same_as(job)
                outcomes.append(ReportOutcome(job_id, RecordOutcome(job, False, not same, False)))
                continue
            if values.error is None:
                measured.append((job, values))
                done += 1
            else:
                failed += 1
            change = _result_columns(agent, values, now)
            show_written(job, change)  # a repeat later in this batch sees the result
            changes.append((job, change))
            outcomes.append(ReportOutcome(job_id, RecordOutcome(job, True, False, False)))
        update_jobs(session, changes)
        written = _store_measurements(session, measured, agent, now)
        note_agent(session, agent.id, seen_at=now, jobs_done=done, jobs_failed=failed)
        lease = Lease([], [])
        if next_lease is not None:
            lease = lease_round_locked(session, agent, next_lease.max_jobs, next_lease.lease_seconds, now)
    recorded = [
        ReportOutcome(o.job_id, replace(o.value, entry_written=True))
        if o.value is not None and o.value.accepted and o.job_id in written
        else o
        for o in outcomes
    ]
    return recorded, lease


def _result_columns(agent: AgentIdentity, values: ResultValues, now: datetime) -> dict[str, Any]:
    """The job's columns once `values` is its result."""
    failed = values.error is not None
    return {
        "status": FAILED if failed else DONE,
        "failure_reason": f"agent {agent.id} could not measure it: {values.error}" if failed else None,
        "result_median": values.median,
        "result_spread": values.stored_spread(),
        "result_n": values.n,
        "result_error": values.error,
        "result_details_json": json.dumps(values.details) if values.details else None,
        "result_agent_id": agent.id,
        "leased_by": None,
        "lease_expires_at": None,
        "finished_at": now,
    }


def _has_result(job: Job) -> bool:
    # A job failed by lease expiry has no result yet: a late measurement still counts.
    return job.status == DONE or job.result_agent_id is not None


def _store_measurements(
    session: Session, measured: Sequence[tuple[Job, ResultValues]], agent: AgentIdentity, now: datetime
) -> set[str]:
    """Table entries (layer jobs) and model measurements of the accepted results: the ids
    of the jobs whose entry this call wrote (first result wins: an existing entry stays)."""
    written: set[str] = set()
    layers: dict[tuple[str, str], dict[str, tuple[Job, ResultValues]]] = {}
    for job, values in measured:
        if job.kind == "layer":
            assert job.signature_digest is not None
            layers.setdefault((job.profile_id, job.metric), {}).setdefault(job.signature_digest, (job, values))
        else:
            _add_model_measurement(session, job, agent, values, now)
            written.add(job.id)
    for by_digest in layers.values():
        inserted = insert_new_entries(session, [_entry(job, values, agent, now) for job, values in by_digest.values()])
        written.update(job.id for digest, (job, _) in by_digest.items() if digest in inserted)
    return written


def _entry(job: Job, values: ResultValues, agent: AgentIdentity, now: datetime) -> dict[str, Any]:
    assert job.signature_digest is not None and job.signature_json is not None
    assert values.median is not None and values.n is not None
    return entry_row(
        profile_id=job.profile_id,
        metric=job.metric,
        signature=StoredSignature(job.signature_digest, job.signature_json),
        median=values.median,
        spread=values.stored_spread() or 0.0,
        n=values.n,
        agent_id=agent.id,
        measured_at=now,
    )


def _add_model_measurement(session: Session, job: Job, agent: AgentIdentity, values: ResultValues, now: datetime) -> None:
    assert job.model_sha256 is not None and values.median is not None and values.n is not None
    add_model_measurement(
        session,
        profile_id=job.profile_id,
        metric=job.metric,
        model_sha256=job.model_sha256,
        measured=values.median,
        spread=values.stored_spread() or 0.0,
        n=values.n,
        estimated=job.estimated,
        raw_sum=job.raw_sum,
        agent_id=agent.id,
        measured_at=now,
    )
