"""Two server processes (`netadapt serve`) on one PostgreSQL database and one data directory,
as two hosts behind a load balancer would be: agents on both drain one queue without a job
handed out twice; a server SIGKILLed while its agent holds leases loses nothing (the other
server requeues them when they expire); two pruning runs execute once each, and the run of a
server killed mid-run is resumed by the other server, never by two at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from latency_tables.db import make_engine, make_session_factory
from latency_tables.protocol import RegistrationReply, lease_path, results_path
from latency_tables.store import TableEntry
from service.client import NetAdaptClient
from service.db.tables import Job
from service.db.runs import RunEvent
from tests.db.backends import fresh_postgres_database
from tests.device_agent.live import free_port, wait_until
from tests.helpers.server_process import ServerProcess
from tests.integration.test_rest_runs import SMALL_RUN
from tests.server.conftest import API_TOKEN
from tests.server.helpers import API_HEADERS, bearer, conv, device, lookup, register

LEASE_SECONDS = 3  # the killed server's leases expire this soon


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def two_servers(tmp_path: Path, database_url: str, **settings: str) -> tuple[ServerProcess, ServerProcess]:
    env = {"NETADAPT_DATABASE_URL": database_url, **{f"NETADAPT_{k.upper()}": v for k, v in settings.items()}}
    first = ServerProcess(tmp_path / "data", free_port(), env=env).start()  # migrates the database
    return first, ServerProcess(tmp_path / "data", free_port(), env=env).start()


def stop(*servers: ServerProcess) -> None:
    for server in servers:
        server.stop()


def job_rows(database_url: str) -> list[Job]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.scalars(select(Job)))
    finally:
        engine.dispose()


def lease(client: httpx.Client, agent: RegistrationReply, wait: float) -> list[dict]:
    response = client.post(lease_path(agent.agent_id), json={"wait_seconds": wait, "max_jobs": 8}, headers=bearer(agent))
    assert response.status_code == 200, response.text
    return response.json()["jobs"]


def report(client: httpx.Client, agent: RegistrationReply, jobs: list[dict]) -> list[dict]:
    body = {"results": [{"job_id": job["id"], "median": 1.0, "spread": 0.0, "n": 3} for job in jobs]}
    response = client.post(results_path(agent.agent_id), json=body, headers=bearer(agent))
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_agents_on_two_servers_drain_one_queue_each_job_once(tmp_path: Path, database_url: str) -> None:
    servers = two_servers(tmp_path, database_url)
    try:
        dev = device()
        total = 60
        with httpx.Client(base_url=servers[0].base_url, headers=API_HEADERS, timeout=60) as api:
            profile = register(api, "setup", dev).profile_id
            lookup(api, profile, [conv(c) for c in range(1, total + 1)])
        accepted: list[str] = []
        leased_by_server: dict[int, list[str]] = {0: [], 1: []}
        lock = threading.Lock()
        errors: list[BaseException] = []

        def agent(index: int) -> None:
            server = index % 2
            try:
                with httpx.Client(base_url=servers[server].base_url, timeout=60) as client:
                    me = register(client, f"agent-{index}", dev)
                    while True:
                        with lock:
                            if len(accepted) >= total:
                                return
                        jobs = lease(client, me, wait=1.0)
                        with lock:
                            leased_by_server[server] += [job["id"] for job in jobs]
                        replies = report(client, me, jobs) if jobs else []
                        with lock:
                            accepted.extend(r["job_id"] for r in replies if r["accepted"])
            except BaseException as exc:  # re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=agent, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not errors, errors
        assert sorted(accepted) == sorted(set(accepted)) and len(accepted) == total
        both = leased_by_server[0] + leased_by_server[1]
        assert len(both) == len(set(both)) == total  # nothing handed out twice, by either server
        assert leased_by_server[0] and leased_by_server[1]  # both servers handed out jobs
        rows = job_rows(database_url)
        assert {row.status for row in rows} == {"done"} and len(rows) == total
        assert all(len(row.lessees) == 1 and row.result_agent_id == row.lessees[0] for row in rows)
        engine = make_engine(database_url)
        try:
            with make_session_factory(engine)() as session:
                assert len(session.scalars(select(TableEntry.signature_digest)).all()) == total
        finally:
            engine.dispose()
    finally:
        stop(*servers)


def test_leases_of_a_killed_server_come_back_through_the_other(tmp_path: Path, database_url: str) -> None:
    doomed, survivor = two_servers(tmp_path, database_url, lease_seconds=str(LEASE_SECONDS), heartbeat_seconds="1")
    try:
        dev = device()
        with httpx.Client(base_url=doomed.base_url, timeout=60) as client:
            first = register(client, "agent-on-doomed", dev)
            lookup_client = httpx.Client(base_url=doomed.base_url, headers=API_HEADERS, timeout=60)
            with lookup_client:
                lookup(lookup_client, first.profile_id, [conv(c) for c in range(1, 9)])
            held = lease(client, first, wait=0)
        assert len(held) == 8
        doomed.kill()  # holding every job's lease; nothing of its shutdown runs

        with httpx.Client(base_url=survivor.base_url, timeout=60) as client:
            second = register(client, "agent-on-survivor", dev)
            again: list[dict] = []
            while len(again) < 8:  # the long poll returns as the survivor requeues the expired leases
                again += lease(client, second, wait=20)
            assert sorted(j["id"] for j in again) == sorted(j["id"] for j in held)
            assert {j["attempt"] for j in again} == {2}
            assert all(r["accepted"] for r in report(client, second, again))
            # The first agent's late report (through the survivor) changes nothing.
            late = report(client, first, held)
            assert [(r["accepted"], r["error"]) for r in late] == [(False, None)] * 8
        rows = job_rows(database_url)
        assert len(rows) == 8 and {row.status for row in rows} == {"done"}
        assert {(row.attempts, row.result_agent_id) for row in rows} == {(1, second.agent_id)}
    finally:
        stop(doomed, survivor)


def worker_starts(database_url: str, run_id: str) -> list[str]:
    """The statuses the run's events record, in order (a claim records 'running')."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            events = session.scalars(select(RunEvent).where(RunEvent.run_id == run_id).order_by(RunEvent.seq)).all()
            return [json.loads(e.data_json)["status"] for e in events if e.type == "status"]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_two_runs_on_two_servers_each_executed_once_and_a_killed_servers_run_resumed_by_the_other(
    tmp_path: Path, database_url: str, trained_digits_model: Path
) -> None:
    first, second = two_servers(tmp_path, database_url, max_concurrent_runs="1")
    try:
        with NetAdaptClient(first.base_url, API_TOKEN, timeout=120) as api:
            model_id = api.upload_model(trained_digits_model)["id"]
            runs = [api.create_run({"model_id": model_id, **SMALL_RUN, "budget": budget}) for budget in (0.75, 0.7)]
            # Each server executes one run at a time: both running means one on each.
            wait_until(lambda: all(api.run(r["id"])["status"] == "running" for r in runs), 120, "both runs to start")
        assert [worker_starts(database_url, r["id"]) for r in runs] == [["running"]] * 2

        first.kill()  # its worker dies with it (parent-death signal); the second server must take its run over
        with NetAdaptClient(second.base_url, API_TOKEN, timeout=120) as api:
            finals = [api.wait(r["id"]) for r in runs]
        assert [f["status"] for f in finals] == ["finished", "finished"]
        histories = sorted(worker_starts(database_url, r["id"]) for r in runs)
        # One run never stopped; the killed server's run went back to the queue once and ran
        # again: a second 'running' only ever follows a requeue, never another 'running'.
        assert histories == [["running", "finished"], ["running", "queued", "running", "finished"]]
    finally:
        stop(first, second)
