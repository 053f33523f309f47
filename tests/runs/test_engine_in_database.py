"""The engine checkpointing into a run row and reporting progress into its event log
(stub network: the Keras side is tested end to end in tests/integration)."""

from __future__ import annotations

import pytest

from service.db.runs import RUNNING
from service.db.session import Database
from service.netadapt import NetAdaptConfig, NetAdaptEngine, SerialExecutor
from service.runs import repository
from service.runs.checkpoint import DatabaseCheckpointStore
from service.runs.history import iteration_rows, proposal_rows
from service.runs.progress import RunProgressRecorder, cost_progress
from service.runs.spec import RunCreate
from tests.netadapt.stubs import StubRun, chain_macs


@pytest.fixture
def database(database_url: str):
    database = Database.connect(database_url)
    yield database
    database.dispose()


def started_run(database: Database) -> str:
    with database.session() as session:
        run, _ = repository.create_run(
            session, RunCreate(model_id="m", dataset_id="digits", metric="macs", budget=0.5)
        )
        repository.claim_queued(session, 1)
        return run.id


def engine_for(stub: StubRun, database: Database, run_id: str, progress) -> NetAdaptEngine:
    return NetAdaptEngine(
        stub.network, stub.estimator, SerialExecutor(stub.runner), DatabaseCheckpointStore(database, run_id),
        stub.config, stub.baseline, progress,
    )


def test_progress_columns_events_and_history_follow_the_engine(database):
    run_id = started_run(database)
    stub = StubRun(NetAdaptConfig(budget=0.5, init_reduction_ratio=0.2, decay=1.0), chain_macs)
    iterations_seen: list[int] = []
    recorder = RunProgressRecorder(database, run_id, on_iteration=iterations_seen.append)
    report = engine_for(stub, database, run_id, recorder).run()

    with database.session() as session:
        run = repository.get_run(session, run_id)
        kinds = [e.type for e in repository.events_after(session, run_id, 0)]
        state = run.state
    summary = report["summary"]
    assert run.status == RUNNING  # the worker, not the recorder, marks the end
    assert run.baseline_cost == summary["baseline_cost"] and run.current_cost == summary["final_cost"]
    assert run.budget_cost == summary["budget_cost"] and run.current_cost <= run.budget_cost
    assert run.iterations_done == summary["iterations"] == len(iterations_seen)
    assert iterations_seen == list(range(summary["iterations"]))
    assert run.phase == "finalizing" and run.progress == pytest.approx(0.9)
    assert kinds[:3] == ["created", "status", "baseline_measured"]
    assert kinds[-1] == "finished" and kinds.count("iteration_finished") == summary["iterations"]

    rows = iteration_rows(state)
    assert [r["index"] for r in rows] == iterations_seen
    assert rows[-1]["cost"] == summary["final_cost"]
    proposals = proposal_rows(state)
    assert len(proposals) == sum(r["proposals"] for r in rows)
    # Exactly one kept proposal per iteration, and it is the iteration's kept group.
    for row in rows:
        kept = [p for p in proposals if p["iteration"] == row["index"] and p["kept"]]
        assert [p["group"] for p in kept] == [row["kept_group"]]
    assert proposal_rows(state, iteration=0) == [p for p in proposals if p["iteration"] == 0]


def test_a_resumed_engine_continues_from_the_database_checkpoint(database):
    run_id = started_run(database)
    stub = StubRun(NetAdaptConfig(budget=0.5, init_reduction_ratio=0.2, decay=1.0), chain_macs)
    fine_tunes = 0

    class Crash(Exception):
        pass

    def crash_after_three(event):
        nonlocal fine_tunes
        if event["event"] == "proposal_finished":
            fine_tunes += 1
            if fine_tunes == 3:
                raise Crash

    with pytest.raises(Crash):
        engine_for(stub, database, run_id, crash_after_three).run()
    before = dict(stub.runner.calls)
    engine_for(stub, database, run_id, None).run()
    # Proposals recorded before the crash were not fine-tuned again.
    assert all(stub.runner.calls[key] == 1 for key in before)
    reference = StubRun(NetAdaptConfig(budget=0.5, init_reduction_ratio=0.2, decay=1.0), chain_macs).run()
    with database.session() as session:
        resumed = repository.get_run(session, run_id).state
    assert [i["kept"] for i in resumed["iterations"]] == [i["kept"] for i in reference["iterations"]]


@pytest.mark.parametrize(
    ("baseline", "current", "budget", "expected"),
    [(100, 100, 60, 0.0), (100, 80, 60, 0.5), (100, 50, 60, 1.0), (None, 80, 60, 0.0), (60, 60, 60, 0.0)],
)
def test_cost_progress(baseline, current, budget, expected):
    assert cost_progress(baseline, current, budget) == pytest.approx(expected)
