"""A real server on loopback and a real agent process, for the runner's live tests.

The server side (service.*, uvicorn, sqlalchemy) is imported here, in the test process
only: the agent runs as a separate `python -m device_agent` process, as on a board.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import httpx
import uvicorn

from service.app import AppServer, create_app
from tests.server.conftest import AGENT_TOKEN, API_TOKEN, make_settings

REPO = Path(__file__).resolve().parents[2]
API_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(data_dir: Path, port: int, **settings: Any) -> Iterator[str]:
    """The real app on 127.0.0.1:port until the block ends; yields the base URL.

    A fixed port (not a kept socket) so a test can stop the server and start a new
    one, with a fresh database, where the agent expects the old one.
    """
    config = uvicorn.Config(
        create_app(make_settings(data_dir, port=port, **settings)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = AppServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 15, "server start")
    if not server.started:
        raise RuntimeError(f"server did not start on port {port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class AgentProcess:
    """`python -m device_agent ...` with its log in a file."""

    def __init__(self, server_url: str, workdir: Path, backend: str = "host-latency", *extra: str) -> None:
        self.log_path = workdir / "agent.log"
        self._log = open(self.log_path, "wb")
        command = [
            sys.executable, "-m", "device_agent",
            "--server", server_url,
            "--backend", backend,
            "--name", "live-test-agent",
            "--wait-seconds", "2",
            "--cache-dir", str(workdir / "cache"),
            *extra,
        ]  # fmt: skip
        env = {**os.environ, "NETADAPT_AGENT_TOKEN": AGENT_TOKEN}
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit code (SIGKILL and fail if it does not exit in time)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"agent ignored SIGTERM for {timeout} s; log:\n{self.log()}") from None
        finally:
            self._log.close()

    def __enter__(self) -> "AgentProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


class Api:
    """The run side of the server API, as a NetAdapt run would call it."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers=API_HEADERS, timeout=30)

    def profile_id(self, backend: str, timeout: float = 60) -> str:
        def find() -> str | None:
            profiles = self.http.get("/v1/profiles").raise_for_status().json()
            return next((p["id"] for p in profiles if p["backend"] == backend), None)

        return wait_until(find, timeout, f"an agent of backend {backend} to register")

    def lookup(self, profile_id: str, signatures: list[dict], metric: str = "latency_ms") -> dict:
        body = {"metric": metric, "signatures": signatures}
        return self.http.post(f"/v1/profiles/{profile_id}/lookup", json=body).raise_for_status().json()

    def wait_for_entries(self, profile_id: str, signatures: list[dict], timeout: float, metric: str = "latency_ms") -> dict:
        def complete() -> dict | None:
            reply = self.lookup(profile_id, signatures, metric)
            return reply["entries"] if not reply["missing"] else None

        return wait_until(complete, timeout, "the agent's entries", interval=0.5)

    def submit_model(self, profile_id: str, model: bytes, metric: str = "latency_ms") -> str:
        response = self.http.post(
            f"/v1/profiles/{profile_id}/model-jobs",
            params={"metric": metric},
            content=model,
            headers={"Content-Type": "application/octet-stream"},
        )
        return response.raise_for_status().json()["job_id"]

    def job(self, job_id: str) -> dict:
        return self.http.get(f"/v1/jobs/{job_id}").raise_for_status().json()

    def close(self) -> None:
        self.http.close()
