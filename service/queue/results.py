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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from latency_tables.db import utcnow, write_transaction
from latency_tables.store import StoredSignature, add_model_measurement, upsert_entry
from service.db.agents import AgentIdentity, count_job, mark_seen
from service.db.models import DONE, FAILED, Job
from service.queue.errors import InvalidResult
from service.queue.jobs import job_for_agent, not_held_error


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


def record_result(
    session: Session,
    job_id: str,
    agent: AgentIdentity,
    result: ResultValues,
    now: datetime | None = None,
) -> RecordOutcome:
    result.check()
    now = now or utcnow()
    with write_transaction(session):
        job = job_for_agent(session, job_id, agent)
        if agent.id not in job.lessees:
            raise not_held_error(job, agent)
        mark_seen(session, agent.id, now)
        if _has_result(job):
            same = result.same_as(job)
            return RecordOutcome(job, accepted=False, conflict=not same, entry_written=False)

        entry_written = False
        if result.error is not None:
            job.status = FAILED
            job.failure_reason = f"agent {agent.id} could not measure it: {result.error}"
            count_job(session, agent.id, "jobs_failed")
        else:
            job.status = DONE
            job.failure_reason = None
            entry_written = _store_measurement(session, job, agent, result, now)
            count_job(session, agent.id, "jobs_done")
        job.result_median = result.median
        job.result_spread = result.stored_spread()
        job.result_n = result.n
        job.result_error = result.error
        job.result_details_json = json.dumps(result.details) if result.details else None
        job.result_agent_id = agent.id
        job.leased_by = None
        job.lease_expires_at = None
        job.finished_at = now
    return RecordOutcome(job, accepted=True, conflict=False, entry_written=entry_written)


def _has_result(job: Job) -> bool:
    # A job failed by lease expiry has no result yet: a late measurement still counts.
    return job.status == DONE or job.result_agent_id is not None


def _store_measurement(session: Session, job: Job, agent: AgentIdentity, result: ResultValues, now: datetime) -> bool:
    assert result.median is not None and result.n is not None
    spread = result.stored_spread() or 0.0
    if job.kind == "layer":
        assert job.signature_digest is not None and job.signature_json is not None
        _, written = upsert_entry(
            session,
            profile_id=job.profile_id,
            metric=job.metric,
            signature=StoredSignature(job.signature_digest, job.signature_json),
            median=result.median,
            spread=spread,
            n=result.n,
            agent_id=agent.id,
            measured_at=now,
        )
        return written
    assert job.model_sha256 is not None
    add_model_measurement(
        session,
        profile_id=job.profile_id,
        metric=job.metric,
        model_sha256=job.model_sha256,
        measured=result.median,
        spread=spread,
        n=result.n,
        estimated=job.estimated,
        raw_sum=job.raw_sum,
        agent_id=agent.id,
        measured_at=now,
    )
    return True
