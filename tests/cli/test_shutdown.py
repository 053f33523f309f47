"""`netadapt serve` and `netadapt demo` stop at once and quietly, with an agent's lease long
poll and a run's event stream open: the lease is answered and the stream ended by the
server, not cancelled after the graceful-shutdown timeout (uvicorn then logs "Cancel N
running task(s)" and a CancelledError traceback after the last line)."""

from __future__ import annotations

import io
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from latency_tables.protocol import lease_path
from service.app import SHUTDOWN_GRACE_SECONDS
from service.cli.progress_view import line_console
from service.cli.runs_cmd import print_run
from service.db.session import Database
from service.runs import repository
from service.runs.spec import RunCreate
from service.settings import Settings
from tests.cli.test_serve_with_agent import embedded_agents
from tests.device_agent.live import free_port, wait_until
from tests.helpers.server_process import API_HEADERS, ServerProcess
from tests.server.conftest import AGENT_TOKEN, API_TOKEN
from tests.server.helpers import bearer, device, register

LONG_POLL_SECONDS = 60  # far past the grace period: a lease still open then would be cancelled


def queued_run(database_url: str) -> str:
    """A run that stays queued (the servers here run none): its event stream stays open."""
    database = Database.connect(database_url)
    try:
        with database.session() as session:
            run, _ = repository.create_run(session, RunCreate(model_id="m" * 64, budget=0.5))
            return run.id
    finally:
        database.dispose()


@contextmanager
def open_lease_and_stream(base_url: str, run_id: str) -> Iterator[dict[str, Any]]:
    """An agent's lease waiting for jobs, and the run's event stream, both open in the
    server when the block's body runs; afterwards, how each ended."""
    outcome: dict[str, Any] = {}
    with httpx.Client(base_url=base_url, timeout=LONG_POLL_SECONDS + 30) as client:
        reply = register(client, "shutdown-test", device())

        def contact() -> str | None:
            agents = client.get(f"/v1/profiles/{reply.profile_id}", headers=API_HEADERS).json()["agents"]
            return next(a["last_heartbeat_at"] for a in agents if a["id"] == reply.agent_id)

        def lease() -> None:
            try:
                response = client.post(lease_path(reply.agent_id), headers=bearer(reply),
                                       json={"wait_seconds": LONG_POLL_SECONDS, "max_jobs": 1})
                outcome["lease"] = (response.status_code, response.json())
            except httpx.HTTPError as exc:
                outcome["lease"] = exc

        registered = contact()
        leasing = threading.Thread(target=lease)
        with client.stream("GET", f"/v1/runs/{run_id}/events/stream", headers=API_HEADERS) as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")  # the stream is open
            leasing.start()
            # The lease's first round notes the agent's contact; then it waits for jobs.
            wait_until(lambda: contact() != registered, 30, "the lease to reach the server")
            yield outcome
            try:
                outcome["stream_rest"] = list(lines)  # ends when the server ends the stream
            except httpx.HTTPError as exc:
                outcome["stream_rest"] = exc
        leasing.join(timeout=LONG_POLL_SECONDS + 30)


def test_serve_with_an_agent_stops_at_once_and_quietly(tmp_path: Path) -> None:
    assert LONG_POLL_SECONDS > 2 * SHUTDOWN_GRACE_SECONDS  # else the lease could end by itself in time
    data_dir = tmp_path / "data"
    env = {"NETADAPT_MAX_CONCURRENT_RUNS": "0", "NETADAPT_LONG_POLL_SECONDS": str(LONG_POLL_SECONDS)}
    server = ServerProcess(data_dir, free_port(), "--with-agent", "host-latency", env=env).start()
    try:
        wait_until(lambda: embedded_agents(server.base_url), 120, "the embedded agent to register")
        run_id = queued_run(Settings(_env_file=None, data_dir=data_dir, dev_mode=True).database_url)
        assert server.process is not None
        with open_lease_and_stream(server.base_url, run_id) as outcome:
            server.process.send_signal(signal.SIGINT)  # Ctrl-C
            code = server.process.wait(timeout=60)
    finally:
        server.stop()
    log = server.log()
    assert code == 0, log
    assert "Traceback" not in log and "Cancel" not in log and "ERROR" not in log, log
    assert log.rstrip().splitlines()[-1].endswith("Finished server process [%d]" % server.process.pid), log
    assert_answered(outcome)


def test_the_demo_s_server_stops_at_once_and_quietly(tmp_path: Path) -> None:
    from service.cli.demo_cmd import _ServerThread

    settings = Settings(_env_file=None, data_dir=tmp_path / "demo", port=free_port(), dev_mode=True,
                        api_token=API_TOKEN, agent_token=AGENT_TOKEN, max_concurrent_runs=0,
                        long_poll_seconds=LONG_POLL_SECONDS)
    errors = _Records()
    uvicorn_log = logging.getLogger("uvicorn.error")
    with _ServerThread(settings) as server:
        run_id = queued_run(settings.database_url)
        with open_lease_and_stream(settings.internal_url, run_id) as outcome:
            uvicorn_log.addHandler(errors)  # after the server configured its logging
            server.server.should_exit = True  # what leaving the demo's `with` does
            server.thread.join(timeout=60)
    uvicorn_log.removeHandler(errors)
    assert not server.thread.is_alive()
    assert errors.messages == []
    assert_answered(outcome)


def assert_answered(outcome: dict[str, Any]) -> None:
    assert outcome["lease"] == (200, {"jobs": []})  # answered, not cut off
    rest = outcome["stream_rest"]  # the server ended the stream after whole events
    assert isinstance(rest, list) and "event: created" in rest and rest[-1] == "", rest


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_the_run_summary_line_is_not_wrapped_in_a_log() -> None:
    # rich wraps at 80 columns when stdout is not a terminal; the demo's last lines would
    # break in the middle ("... budget 0.6,\nstop: budget_met").
    out = io.StringIO()
    run = {"id": "0123456789abcdef0123456789abcdef", "status": "finished", "phase": "done",
           "metric": "latency_ms", "budget": 0.6, "stop_reason": "budget_met", "error": None,
           "baseline_cost": None}
    print_run(line_console_to(out), None, run)
    assert out.getvalue() == (
        "run 0123456789abcdef0123456789abcdef: finished (done), metric latency_ms, budget 0.6, stop: budget_met\n"
    )


def line_console_to(file: io.StringIO) -> Any:
    console = line_console()
    console.file, console.width = file, 80  # what rich picks for a pipe or a log
    assert not console.is_terminal
    return console
