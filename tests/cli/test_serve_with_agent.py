"""`netadapt serve --with-agent BACKEND`: the server starts a real agent next to itself,
which registers and goes away with the server."""

from __future__ import annotations

import httpx

from tests.device_agent.live import free_port, wait_until
from tests.helpers.cli import run_cli
from tests.helpers.server_process import API_HEADERS, ServerProcess


def embedded_agents(base_url: str) -> list[dict]:
    agents = []
    for profile in httpx.get(f"{base_url}/v1/profiles", headers=API_HEADERS).json():
        detail = httpx.get(f"{base_url}/v1/profiles/{profile['id']}", headers=API_HEADERS).json()
        agents += [a for a in detail["agents"] if a["name"] == "embedded-host-latency" and a["online"]]
    return agents


def test_the_embedded_agent_registers_and_stops_with_the_server(tmp_path):
    server = ServerProcess(tmp_path / "data", free_port(), "--with-agent", "host-latency").start()
    try:
        wait_until(lambda: embedded_agents(server.base_url), 60, "the embedded agent to register")
        agent_pids = [
            p.pid for p in _children(server.process.pid) if b"device_agent" in _cmdline(p.pid)
        ]
        assert len(agent_pids) == 1
    finally:
        server.stop()
    wait_until(lambda: not _alive(agent_pids[0]), 20, "the agent to exit with the server")


def test_an_unknown_backend_is_refused_before_starting(tmp_path):
    result = run_cli("serve", "--with-agent", "gpu-magic", "--port", "0", "--data-dir", str(tmp_path), "--dev")
    assert result.returncode == 2
    assert "unknown agent backend 'gpu-magic'" in result.stderr and "host-latency" in result.stderr


class _Proc:
    def __init__(self, pid: int) -> None:
        self.pid = pid


def _children(pid: int) -> list[_Proc]:
    from pathlib import Path

    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(_Proc(int(entry.name)))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
