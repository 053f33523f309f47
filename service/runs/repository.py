"""Reading and changing run records and their event log (one SQLAlchemy session each).

Status changes go through here so every change also lands in the event log. A run has
one writer of its progress at a time (its worker); the server only flips
cancel/resume flags and statuses, which are guarded by the status they expect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from latency_tables.db import is_sqlite, utcnow, write_transaction
from service.db.notify import RUN_EVENTS_CHANNEL, notify
from service.netadapt.errors import UserError
from service.db.runs import (
    ACTIVE_STATUSES,
    CANCELLED,
    CANCELLING,
    FAILED,
    FINISHED,
    QUEUED,
    RESUMABLE_STATUSES,
    RUNNING,
    Run,
    RunEvent,
)
from service.runs.spec import RunCreate


class RunStateError(UserError):
    """The run is not in a state that allows the operation; the message says why."""

    http_status = 409


class IdempotencyConflict(UserError):
    """An Idempotency-Key was reused with a different request body."""

    http_status = 409


def create_run(
    session: Session, spec: RunCreate, idempotency_key: str | None = None
) -> tuple[Run, bool]:
    """Insert a queued run, or return the one created earlier with the same key.

    Returns (run, created)."""
    fingerprint = spec.fingerprint()
    _end_read(session)
    try:
        with write_transaction(session):
            if idempotency_key is not None:
                existing = session.scalar(select(Run).where(Run.idempotency_key == idempotency_key))
                if existing is not None:
                    return _same_request(existing, fingerprint, idempotency_key), False
            run = Run(
                model_id=spec.model_id,
                dataset_id=spec.dataset_id,
                profile_id=spec.device,
                metric=spec.metric,
                request_json=json.dumps(spec.model_dump(mode="json")),
                request_hash=fingerprint,
                idempotency_key=idempotency_key,
                status=QUEUED,
                phase="queued",
            )
            session.add(run)
            session.flush()
            _append(session, run.id, "created", {"metric": spec.metric, "budget": spec.budget})
    except IntegrityError:
        # PostgreSQL: a concurrent retry with the same key won the insert.
        existing = session.scalar(select(Run).where(Run.idempotency_key == idempotency_key))
        if existing is None:
            raise
        return _same_request(existing, fingerprint, idempotency_key or ""), False
    return run, True


def _same_request(existing: Run, fingerprint: str, key: str) -> Run:
    if existing.request_hash != fingerprint:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was used for run {existing.id} with a different request "
            "body; send a new key for a new run, or the same body to get that run back"
        )
    return existing


def get_run(session: Session, run_id: str) -> Run | None:
    return session.get(Run, run_id)


def list_runs(
    session: Session, statuses: Sequence[str] | None = None, limit: int = 100, offset: int = 0
) -> list[Run]:
    query = select(Run).order_by(Run.created_at.desc(), Run.id)
    if statuses:
        query = query.where(Run.status.in_(statuses))
    return list(session.scalars(query.limit(limit).offset(offset)))


def request_cancel(session: Session, run_id: str) -> Run:
    _end_read(session)
    with write_transaction(session):
        run = _locked(session, run_id)
        if run.status == QUEUED:
            # Nothing is executing it: cancelled at once.
            _set_status(session, run, CANCELLED, "cancelled before it started")
        elif run.status == RUNNING:
            run.cancel_requested = True
            _set_status(session, run, CANCELLING, "cancel requested; stopping the worker")
        elif run.status != CANCELLING:  # a repeated cancel is harmless
            raise RunStateError(f"run {run_id} is {run.status}; only queued or running runs can be cancelled")
    return run

def request_resume(session: Session, run_id: str) -> Run:
    _end_read(session)
    with write_transaction(session):
        run = _locked(session, run_id)
        if run.status not in RESUMABLE_STATUSES:
            hint = "it is still active" if run.status in ACTIVE_STATUSES else "it has finished"
            raise RunStateError(
                f"run {run_id} is {run.status}: only cancelled or failed runs can be resumed ({hint})"
            )
        run.cancel_requested = False
        run.error = None
        run.finished_at = None
        _set_status(session, run, QUEUED, "resume requested; continues at the next unfinished proposal")
    return run

def delete_run(session: Session, run_id: str) -> None:
    _end_read(session)
    with write_transaction(session):
        run = _locked(session, run_id)
        if run.status in ACTIVE_STATUSES:
            raise RunStateError(f"run {run_id} is {run.status}; cancel it first, then delete it")
        session.execute(delete(RunEvent).where(RunEvent.run_id == run_id))
        session.delete(run)

def _locked(session: Session, run_id: str) -> Run:
    run = session.get(Run, run_id, with_for_update=True, populate_existing=True)
    if run is None:
        raise LookupError(run_id)
    return run


def _end_read(session: Session) -> None:
    """Write transactions start outside any transaction: end a read the caller began
    (commit, not rollback, so loaded objects stay usable)."""
    if session.in_transaction():
        session.commit()


# -- used by the supervisor ----------------------------------------------------------------


def claim_queued(session: Session, limit: int, hold: Callable[[str], bool] | None = None) -> list[Run]:
    """Mark up to `limit` queued runs (oldest first) running; the caller starts workers.

    `hold(run_id)` (several servers: service.runs.claims) takes the server's hold on a run
    before the claim commits; a run it cannot hold is left queued."""
    _end_read(session)
    with write_transaction(session):
        query = select(Run).where(Run.status == QUEUED).order_by(Run.created_at, Run.id).limit(limit)
        if not is_sqlite(session):
            query = query.with_for_update(skip_locked=True)
        runs = [run for run in session.scalars(query) if hold is None or hold(run.id)]
        for run in runs:
            run.status = RUNNING
            run.started_at = run.started_at or utcnow()
            run.worker_starts += 1
            _append(session, run.id, "status", {"status": RUNNING, "message": "worker starting"})
    return runs

def requeue_interrupted(session: Session, reason: str, run_ids: Collection[str] | None = None) -> list[str]:
    """Runs left running by a server that stopped (all of them, or those of `run_ids`
    still running): back to the queue (they resume). A cancel that was in flight
    completes instead."""
    _end_read(session)
    with write_transaction(session):
        query = select(Run).where(Run.status.in_((RUNNING, CANCELLING)))
        if run_ids is not None:
            query = query.where(Run.id.in_(list(run_ids)))
        running = list(session.scalars(query.with_for_update()))
        for run in running:
            if run.status == CANCELLING:
                _set_status(session, run, CANCELLED, "cancelled (the server stopped meanwhile)")
            else:
                run.worker_pid = None
                _set_status(session, run, QUEUED, reason)
    return [r.id for r in running]

def set_worker_pid(session: Session, run_id: str, pid: int | None) -> None:
    _end_read(session)
    with write_transaction(session):
        session.execute(update(Run).where(Run.id == run_id).values(worker_pid=pid))

def worker_exited(session: Session, run_id: str, exit_code: int, log_tail: str) -> Run | None:
    """Settle a run whose worker process ended: cancelled if asked, else failed unless the
    worker itself recorded an end."""
    _end_read(session)
    with write_transaction(session):
        run = session.get(Run, run_id, populate_existing=True)
        if run is None:
            return None
        run.worker_pid = None
        if run.status == CANCELLING:
            _set_status(session, run, CANCELLED, "cancelled")
        elif run.status == RUNNING:
            message = f"the worker process exited with code {exit_code} without finishing the run"
            if log_tail:
                message += f": {log_tail}"
            run.error = message
            _set_status(session, run, FAILED, message)
    return run


# -- used by the worker --------------------------------------------------------------------


def mark_finished(session: Session, run_id: str, report_summary: dict[str, Any], **values: Any) -> None:
    _end_read(session)
    with write_transaction(session):
        run = session.get(Run, run_id, populate_existing=True)
        if run is None or run.status != RUNNING:
            return
        for name, value in values.items():
            setattr(run, name, value)
        run.stop_reason = report_summary.get("stop_reason")
        run.test_accuracy = report_summary.get("test_accuracy")
        run.progress = 1.0
        run.phase = "done"
        _set_status(session, run, FINISHED, f"finished: {run.stop_reason}", summary=report_summary)

def mark_failed(session: Session, run_id: str, message: str) -> None:
    _end_read(session)
    with write_transaction(session):
        run = session.get(Run, run_id, populate_existing=True)
        if run is None or run.status not in (RUNNING, CANCELLING):
            return
        run.error = message
        _set_status(session, run, FAILED, message)

def save_state(session: Session, run_id: str, state: Mapping[str, Any]) -> None:
    text = json.dumps(state, allow_nan=False)
    _end_read(session)
    with write_transaction(session):
        session.execute(update(Run).where(Run.id == run_id).values(state_json=text, updated_at=utcnow()))

def record_progress(session: Session, run_id: str, event_type: str, data: dict[str, Any], **values: Any) -> int:
    """One engine event: the run's summary columns and the event, in one transaction."""
    _end_read(session)
    with write_transaction(session):
        if values:
            session.execute(update(Run).where(Run.id == run_id).values(**values, updated_at=utcnow()))
        return _append(session, run_id, event_type, data)

def append_event(session: Session, run_id: str, event_type: str, data: dict[str, Any]) -> int:
    return record_progress(session, run_id, event_type, data)

def events_after(session: Session, run_id: str, after: int, limit: int = 1000) -> list[RunEvent]:
    return list(
        session.scalars(
            select(RunEvent)
            .where(RunEvent.run_id == run_id, RunEvent.seq > after)
            .order_by(RunEvent.seq)
            .limit(limit)
        )
    )


def _set_status(session: Session, run: Run, status: str, message: str, **data: Any) -> None:
    run.status = status
    if status in (FINISHED, FAILED, CANCELLED):
        run.finished_at = utcnow()
        run.worker_pid = None
    _append(session, run.id, "status", {"status": status, "message": message, **data})


def _append(session: Session, run_id: str, event_type: str, data: dict[str, Any]) -> int:
    """Next seq for the run. The server and the worker may both append; the primary key
    (run_id, seq) makes a collision fail, and the savepoint lets us retry."""
    text = json.dumps(data, allow_nan=False, default=str)
    for _ in range(20):
        seq = (session.scalar(select(func.max(RunEvent.seq)).where(RunEvent.run_id == run_id)) or 0) + 1
        try:
            with session.begin_nested():
                session.add(RunEvent(run_id=run_id, seq=seq, type=event_type, data_json=text))
            notify(session, RUN_EVENTS_CHANNEL, run_id)  # wakes event streams on every server
            return seq
        except IntegrityError:
            continue
    raise RuntimeError(f"could not append an event to run {run_id}")
