"""Run records: creation and idempotency, status changes, and the numbered event log."""

from __future__ import annotations

import pytest

from service.db.runs import CANCELLED, CANCELLING, FAILED, FINISHED, QUEUED, RUNNING
from service.runs import repository
from service.runs.spec import RunCreate


def spec(**overrides) -> RunCreate:
    values = {"model_id": "m" * 64, "dataset_id": "digits", "metric": "macs", "budget": 0.5}
    values.update(overrides)
    return RunCreate(**values)


def event_types(session, run_id: str) -> list[tuple[int, str, str | None]]:
    return [(e.seq, e.type, e.data.get("status")) for e in repository.events_after(session, run_id, 0)]


def test_create_queues_the_run_and_logs_it(db_session):
    run, created = repository.create_run(db_session, spec())
    assert created and run.status == QUEUED
    assert event_types(db_session, run.id) == [(1, "created", None)]
    assert repository.get_run(db_session, run.id).request["budget"] == 0.5


def test_same_idempotency_key_and_body_returns_the_same_run(db_session):
    first, created_first = repository.create_run(db_session, spec(), "key-1")
    again, created_again = repository.create_run(db_session, spec(), "key-1")
    assert created_first and not created_again
    assert again.id == first.id
    assert len(repository.list_runs(db_session)) == 1


def test_same_key_with_another_body_is_refused(db_session):
    repository.create_run(db_session, spec(), "key-2")
    with pytest.raises(repository.IdempotencyConflict, match="different request body"):
        repository.create_run(db_session, spec(budget=0.4), "key-2")
    assert len(repository.list_runs(db_session)) == 1


def test_defaults_make_equal_requests_equal():
    explicit = spec(engine={"init_reduction_ratio": 0.025}, training={"short_term_steps": 100})
    assert explicit.fingerprint() == spec().fingerprint()
    assert spec(budget=0.4).fingerprint() != spec().fingerprint()


def test_cancel_a_queued_run_ends_it_at_once(db_session):
    run, _ = repository.create_run(db_session, spec())
    assert repository.request_cancel(db_session, run.id).status == CANCELLED
    # Cancelled runs can be resumed; finished ones cannot be cancelled.
    assert repository.request_resume(db_session, run.id).status == QUEUED


def test_cancel_a_running_run_asks_the_supervisor(db_session):
    run, _ = repository.create_run(db_session, spec())
    [claimed] = repository.claim_queued(db_session, 5)
    assert claimed.id == run.id and claimed.status == RUNNING
    assert repository.request_cancel(db_session, run.id).status == CANCELLING
    # The worker exits; the supervisor settles the run.
    settled = repository.worker_exited(db_session, run.id, -15, "")
    assert settled.status == CANCELLED
    statuses = [s for _, kind, s in event_types(db_session, run.id) if kind == "status"]
    assert statuses == [RUNNING, CANCELLING, CANCELLED]


def test_finished_runs_cannot_be_cancelled_or_resumed_but_can_be_deleted(db_session):
    run, _ = repository.create_run(db_session, spec())
    repository.claim_queued(db_session, 1)
    repository.mark_finished(db_session, run.id, {"stop_reason": "budget_met", "test_accuracy": 0.9})
    assert repository.get_run(db_session, run.id).status == FINISHED
    with pytest.raises(repository.RunStateError, match="only queued or running"):
        repository.request_cancel(db_session, run.id)
    with pytest.raises(repository.RunStateError, match="it has finished"):
        repository.request_resume(db_session, run.id)
    repository.delete_run(db_session, run.id)
    assert repository.get_run(db_session, run.id) is None
    assert repository.events_after(db_session, run.id, 0) == []


def test_active_runs_cannot_be_deleted(db_session):
    run, _ = repository.create_run(db_session, spec())
    with pytest.raises(repository.RunStateError, match="cancel it first"):
        repository.delete_run(db_session, run.id)
    assert repository.get_run(db_session, run.id) is not None


def test_a_worker_that_dies_without_an_end_fails_the_run_with_its_last_words(db_session):
    run, _ = repository.create_run(db_session, spec())
    repository.claim_queued(db_session, 1)
    repository.worker_exited(db_session, run.id, 1, "MemoryError: out of memory")
    failed = repository.get_run(db_session, run.id)
    assert failed.status == FAILED
    assert "exited with code 1" in failed.error and "MemoryError" in failed.error


def test_runs_left_running_by_a_stopped_server_are_requeued(db_session):
    a, _ = repository.create_run(db_session, spec(budget=0.5))
    b, _ = repository.create_run(db_session, spec(budget=0.4))
    repository.claim_queued(db_session, 2)
    repository.request_cancel(db_session, b.id)
    assert sorted(repository.requeue_interrupted(db_session, "restart")) == sorted([a.id, b.id])
    assert repository.get_run(db_session, a.id).status == QUEUED
    assert repository.get_run(db_session, b.id).status == CANCELLED  # the cancel completes


def test_claim_takes_oldest_first_and_at_most_the_limit(db_session):
    ids = [repository.create_run(db_session, spec(budget=b))[0].id for b in (0.5, 0.4, 0.3)]
    claimed = [r.id for r in repository.claim_queued(db_session, 2)]
    assert claimed == ids[:2]
    assert repository.claim_queued(db_session, 2)[0].id == ids[2]
    assert repository.claim_queued(db_session, 2) == []


def test_event_seq_counts_up_per_run_and_after_filters(db_session):
    a, _ = repository.create_run(db_session, spec(budget=0.5))
    b, _ = repository.create_run(db_session, spec(budget=0.4))
    for i in range(3):
        repository.append_event(db_session, a.id, "iteration_started", {"iteration": i})
    repository.append_event(db_session, b.id, "iteration_started", {"iteration": 0})
    assert [e.seq for e in repository.events_after(db_session, a.id, 0)] == [1, 2, 3, 4]
    assert [e.data["iteration"] for e in repository.events_after(db_session, a.id, 2)] == [1, 2]
    assert [e.seq for e in repository.events_after(db_session, b.id, 0)] == [1, 2]


def test_state_round_trips_and_non_json_state_is_refused(db_session):
    run, _ = repository.create_run(db_session, spec())
    repository.save_state(db_session, run.id, {"iterations": [], "x": 1.5})
    db_session.expire_all()
    assert repository.get_run(db_session, run.id).state == {"iterations": [], "x": 1.5}
    with pytest.raises(ValueError):
        repository.save_state(db_session, run.id, {"x": float("nan")})
    db_session.expire_all()
    assert repository.get_run(db_session, run.id).state == {"iterations": [], "x": 1.5}


def test_measured_metrics_need_a_device_and_ratios_stay_in_range():
    with pytest.raises(ValueError, match="measured on a device"):
        spec(metric="latency_ms")
    with pytest.raises(ValueError, match=r"must be in \(0, 1\]"):
        spec(budget=1.5)
    assert spec(budget=1.5e6, budget_kind="absolute").budget == 1.5e6
