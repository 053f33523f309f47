"""Real data for the dashboard pages without running Keras: runs driven by the pure
NetAdapt engine on the stub network (checkpointed into the server's database, events
through the real progress recorder), device profiles with registered agents and queued
jobs, lookup-table entries and whole-model measurements."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from latency_tables import store
from latency_tables.db import utcnow
from service.db.agents import register_agent
from service.db.tables import Agent
from service.db.runs import RUNNING, Run
from service.db.session import Database
from service.netadapt import NetAdaptConfig, NetAdaptEngine, SerialExecutor
from service.pruning import run_layout
from service.queue.jobs import enqueue_layer_jobs
from service.runs import repository
from service.runs.artifacts import run_dir
from service.runs.checkpoint import DatabaseCheckpointStore
from service.runs.progress import RunProgressRecorder
from service.runs.spec import RunCreate
from tests.netadapt.stubs import StubRun, chain_macs
from tests.server.helpers import conv, device
from tests.server.conftest import LiveServer


def stub_config() -> NetAdaptConfig:
    return NetAdaptConfig(budget=0.5, init_reduction_ratio=0.2, decay=1.0)


def new_run(database: Database, budget: float = 0.5, start: bool = True) -> str:
    with database.session() as session:
        run, _ = repository.create_run(session, RunCreate(model_id="stub" * 16, dataset_id="digits", metric="macs", budget=budget))
        if start:  # what the supervisor's claim does, for this run only
            session.execute(update(Run).where(Run.id == run.id).values(status=RUNNING, started_at=utcnow()))
            session.commit()
            repository.append_event(session, run.id, "status", {"status": RUNNING, "message": "worker starting"})
        return run.id


def drive(
    database: Database, run_id: str, progress: Any = None, config: NetAdaptConfig | None = None
) -> dict[str, Any]:
    """Run the stub engine for `run_id`, recording like a worker does."""
    stub = StubRun(config or stub_config(), chain_macs)
    recorder = RunProgressRecorder(database, run_id)

    def on_event(event: dict[str, Any]) -> None:
        recorder(event)
        if progress is not None:
            progress(event)

    engine = NetAdaptEngine(
        stub.network, stub.estimator, SerialExecutor(stub.runner), DatabaseCheckpointStore(database, run_id),
        stub.config, stub.baseline, on_event,
    )
    return engine.run()


def finished_run(server: LiveServer, database: Database, config: NetAdaptConfig | None = None) -> str:
    run_id = new_run(database)
    report = drive(database, run_id, config=config)
    with database.session() as session:
        repository.mark_finished(session, run_id, report["summary"])
    folder = run_dir(server.settings.runs_dir, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / run_layout.HISTORY_FILE).write_text(json.dumps(report))
    return run_id


class PausedRun:
    """A running stub run that stops at the start of iteration `pause_at` until released."""

    def __init__(self, database: Database, pause_at: int = 1) -> None:
        self.database = database
        self.run_id = new_run(database)
        self.paused = threading.Event()
        self.release = threading.Event()
        self.report: dict[str, Any] | None = None
        self.pause_at = pause_at
        self.thread = threading.Thread(target=self._work, daemon=True)

    def _progress(self, event: dict[str, Any]) -> None:
        if event["event"] == "iteration_started" and event.get("iteration") == self.pause_at:
            self.paused.set()
            assert self.release.wait(60), "the test never released the run"

    def _work(self) -> None:
        self.report = drive(self.database, self.run_id, self._progress)

    def start(self) -> PausedRun:
        self.thread.start()
        assert self.paused.wait(30), "the stub run did not reach the pause"
        return self

    def finish(self) -> dict[str, Any]:
        self.release.set()
        self.thread.join(30)
        assert self.report is not None
        with self.database.session() as session:
            repository.mark_finished(session, self.run_id, self.report["summary"])
        return self.report


def devices(session: Session) -> dict[str, Any]:
    """Two profiles: one with an online and an offline agent and queued jobs, one bare."""
    online = register_agent(session, "phone-1", device("latency_ms", cpu="dash-cpu-a"))
    offline = register_agent(session, "phone-2", device("latency_ms", cpu="dash-cpu-a"))
    bare = register_agent(session, "board-1", device("instructions", cpu="dash-cpu-b"))
    session.execute(
        update(Agent).where(Agent.id == offline.agent.id)
        .values(last_heartbeat_at=utcnow() - timedelta(hours=2), jobs_done=7, jobs_failed=2)
    )
    session.execute(update(Agent).where(Agent.id == online.agent.id).values(jobs_done=12))
    session.commit()
    profile_id = online.profile.id
    jobs = enqueue_layer_jobs(session, profile_id, "latency_ms", [conv(n, size=9) for n in (8, 16, 24)], max_attempts=3)
    session.commit()
    return {"profile": profile_id, "bare_profile": bare.profile.id, "jobs_queued": len(jobs),
            "online": online.agent.id, "offline": offline.agent.id}


def heartbeat(session: Session, agent_id: str) -> None:
    """What an agent's heartbeat does: mark it seen now (module fixtures seed agents long
    before a late test looks at them; a loaded machine can take the online window)."""
    session.execute(update(Agent).where(Agent.id == agent_id).values(last_heartbeat_at=utcnow()))
    session.commit()


def tables(session: Session, profile_id: str) -> dict[str, Any]:
    """Entries and whole-model measurements (estimate next to measured) for `profile_id`."""
    for n in (8, 16, 32, 40, 48):
        store.upsert_entry(session, profile_id=profile_id, metric="latency_ms", signature=conv(n), median=0.1 * n,
                           spread=0.01, n=5)
    pairs = [(10.0, 9.0), (12.0, 12.6), (20.0, 18.0), (30.0, 31.5)]
    for i, (measured, estimated) in enumerate(pairs):
        store.add_model_measurement(session, profile_id=profile_id, metric="latency_ms", model_sha256=f"{i:064x}",
                                    measured=measured, spread=0.2, n=5, estimated=estimated, raw_sum=estimated * 0.9)
    session.commit()
    return {"entries": 5, "measurements": len(pairs)}
