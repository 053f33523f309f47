"""A real server and real device agents on loopback, for the benchmark's measured costs.

The server (`netadapt serve --dev`, SQLite in the lab directory) and each agent
(`python -m device_agent`) are child processes, as a user would run them; their logs go
to files in the lab directory. The lookup tables live in the lab's database, so running
the benchmark again on the same --out reuses every layer already measured.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from service.settings import DEFAULT_SECRET

# Dev mode accepts the built-in secrets; the lab listens on loopback only.
API_TOKEN = DEFAULT_SECRET
AGENT_TOKEN = DEFAULT_SECRET
STARTUP_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class AgentSpec:
    """One agent to start: its backend and extra options, and the profile it reports."""

    key: str  # how the benchmark refers to it: "host-latency", "host-instructions", "a53"
    backend: str
    metric: str
    options: tuple[str, ...] = ()


@dataclass
class DeviceLab:
    directory: Path
    agents: tuple[AgentSpec, ...]
    url: str = ""
    profiles: dict[str, str] = field(default_factory=dict)  # agent key -> profile id
    _children: list[tuple[str, subprocess.Popen, IO[bytes], Path]] = field(default_factory=list)

    def __enter__(self) -> "DeviceLab":
        self.directory.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._start("server", [sys.executable, "-m", "service.cli", "serve", "--dev",
                               "--data-dir", str(self.directory / "server"), "--port", str(port)])
        self._wait(lambda: self._get("/v1/health") is not None, "the server to answer /v1/health")
        for spec in self.agents:
            self._start(f"agent-{spec.key}", [
                sys.executable, "-m", "device_agent", "--server", self.url, "--backend", spec.backend,
                "--name", f"pareto-{spec.key}", "--cache-dir", str(self.directory / f"cache-{spec.key}"),
                "--max-jobs", "32", *spec.options,
            ])
        for spec in self.agents:
            self.profiles[spec.key] = self._wait(
                lambda spec=spec: self._online_profile(spec), f"agent {spec.key} to register")
        return self

    def __exit__(self, *_: object) -> None:
        for _, process, _, _ in reversed(self._children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process, log, _ in reversed(self._children):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()

    def _start(self, name: str, command: list[str]) -> None:
        log_path = self.directory / f"{name}.log"
        log = open(log_path, "ab")
        env = {**os.environ, "NETADAPT_AGENT_TOKEN": AGENT_TOKEN, "NETADAPT_API_TOKEN": API_TOKEN}
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
        self._children.append((name, process, log, log_path))

    def _get(self, path: str) -> object | None:
        try:
            response = httpx.get(self.url + path, headers={"Authorization": f"Bearer {API_TOKEN}"},
                                 timeout=10)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def _online_profile(self, spec: AgentSpec) -> str | None:
        for profile in self._get("/v1/profiles") or []:
            if profile.get("metric") != spec.metric:
                continue
            detail = self._get(f"/v1/profiles/{profile['id']}") or {}
            if any(a.get("online") and a.get("name") == f"pareto-{spec.key}"
                   for a in detail.get("agents", [])):
                return str(profile["id"])
        return None

    def _wait(self, ready, what: str) -> object:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            for name, process, _, log_path in self._children:
                if process.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited with {process.returncode} while waiting for "
                                       f"{what}; its log ({log_path}) ends:\n{tail}")
            value = ready()
            if value:
                return value
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {STARTUP_TIMEOUT_S:g} s waiting for {what}; "
                           f"logs in {self.directory}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
