"""`netadapt serve` as a real child process, for tests that kill and restart the server."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from service.executors.lifetime import stop_process
from tests.helpers.cli import NETADAPT
from tests.server.conftest import AGENT_TOKEN, API_TOKEN

API_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


class ServerProcess:
    """The server on 127.0.0.1:port with its data in data_dir; output in data_dir/../server.log."""

    def __init__(self, data_dir: Path, port: int, *extra: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = data_dir.parent / f"server-{port}.log"
        self.extra = extra
        self.env = {
            **os.environ,
            "NETADAPT_API_TOKEN": API_TOKEN,
            "NETADAPT_AGENT_TOKEN": AGENT_TOKEN,
            "NETADAPT_DEV_MODE": "1",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [NETADAPT, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not answer within {timeout} s:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        if self.process is not None:
            stop_process(self.process, timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
