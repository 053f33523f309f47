"""A device agent started by the server itself (`netadapt serve --with-agent BACKEND`).

It is the ordinary `netadapt-agent` in a child process that talks to the server over
loopback like any other agent; it dies with the server (PR_SET_PDEATHSIG). The server
knows the agent only by its command: which backends there are, it asks the program
(`backends`), so the list lives in device_agent.backends alone and the server never
imports device_agent (which must stay installable on a board without the server).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from service.executors.lifetime import die_with_parent, stop_process
from service.settings import Settings

log = logging.getLogger(__name__)

AGENT_COMMAND = (sys.executable, "-m", "device_agent")


def agent_backends() -> dict[str, str]:
    """The agent program's backends: name -> what it measures."""
    done = subprocess.run([*AGENT_COMMAND, "backends"], capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(AGENT_COMMAND)} backends failed ({done.returncode}): {done.stderr.strip()}")
    return dict(line.split("\t", 1) for line in done.stdout.splitlines() if "\t" in line)


class EmbeddedAgent:
    def __init__(self, settings: Settings, backend: str) -> None:
        self.settings = settings
        self.backend = backend
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = settings.data_dir / f"agent-{backend}.log"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            *AGENT_COMMAND,
            "--server", self.settings.internal_url,
            "--backend", self.backend,
            "--name", f"embedded-{self.backend}",
            "--cache-dir", str(self.settings.data_dir / "agent-cache"),
        ]  # fmt: skip
        env = {**os.environ, "NETADAPT_AGENT_TOKEN": self.settings.agent_token}
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        log.info("embedded %s agent: pid %d, log %s", self.backend, self.process.pid, self.log_path)

    def failure(self) -> str | None:
        """Why the agent is not running (its exit code and last log line), or None."""
        if self.process is None or self.process.poll() is None:
            return None
        lines = [line for line in self.log_path.read_text(errors="replace").splitlines() if line.strip()]
        return f"exited with code {self.process.returncode}: {lines[-1] if lines else '(empty log)'}"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the agent hands its leases back), then SIGKILL if it lingers."""
        if self.process is not None:
            stop_process(self.process, timeout)
