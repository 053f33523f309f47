"""docker-compose.yml is valid Compose (validated by the Compose CLI, nothing started) and
wires what it promises: PostgreSQL, two server replicas behind one proxy port, agent, health
checks, data volumes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"POSTGRES_PASSWORD": "pw-for-config", "NETADAPT_AGENT_TOKEN": "agent-token-for-config",
           "NETADAPT_API_TOKEN": "api-token-for-config"}


def compose_command() -> list[str]:
    """`docker compose` (v2 plugin) where it works, else Compose v1 `docker-compose`."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("no Compose CLI (docker compose or docker-compose); run scripts/setup_test_env.sh", pytrace=False)


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS and k != "RAY_ADDRESS"}
    return subprocess.run([*compose_command(), "-f", str(ROOT / "docker-compose.yml"), *args],
                          capture_output=True, text=True, cwd=ROOT, env={**clean, **env}, timeout=120, check=False)


def test_compose_file_is_valid_and_has_its_services() -> None:
    result = compose("config", "-q", env=SECRETS)
    assert result.returncode == 0, result.stderr
    services = compose("config", "--services", env=SECRETS)
    assert sorted(services.stdout.split()) == ["agent", "postgres", "proxy", "server-1", "server-2"]
    volumes = compose("config", "--volumes", env=SECRETS)
    assert sorted(volumes.stdout.split()) == ["agent-cache", "postgres-data", "server-data"]
    rendered = compose("config", env=SECRETS).stdout
    assert rendered.count("healthcheck:") == 5
    # Both replicas on the one database and the one data volume.
    assert rendered.count("postgresql://netadapt:pw-for-config@postgres:5432/netadapt") == 2
    assert rendered.count("server-data:/data") == 2


def test_one_port_in_front_of_every_server_replica() -> None:
    rendered = compose("config", env=SECRETS).stdout
    assert rendered.count("127.0.0.1:8000:8000") == 1  # the proxy's; replicas publish nothing
    replicas = sorted(name for name in compose("config", "--services", env=SECRETS).stdout.split() if name.startswith("server-"))
    proxy_conf = (ROOT / "docker/proxy.conf").read_text()
    assert sorted(re.findall(r"^\s*server (server-\d+):8000", proxy_conf, flags=re.MULTILINE)) == replicas
    assert "docker/proxy.conf:/etc/nginx/conf.d/default.conf" in rendered
    assert "http://proxy:8000" in rendered and "http://server:8000" not in rendered  # the agent goes through it
    # Long polls (20 s) and event streams must outlive the proxy's read timeout.
    [timeout] = re.findall(r"proxy_read_timeout (\d+)s;", proxy_conf)
    assert int(timeout) > 20 and "proxy_buffering off;" in proxy_conf


def test_compose_refuses_to_start_without_secrets() -> None:
    result = compose("config", "-q", env={})
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


@pytest.mark.parametrize("dockerfile", ["docker/server.Dockerfile", "docker/agent.Dockerfile"])
def test_dockerfiles_copy_only_what_exists(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    assert dockerfile in (ROOT / "docker-compose.yml").read_text()
    for sources in re.findall(r"^COPY (.+) \S+$", text, flags=re.MULTILINE):
        for source in sources.split():
            assert (ROOT / source).exists(), f"{dockerfile} copies missing {source}"


def test_the_server_image_checks_its_health() -> None:
    # The agent image has none of its own: compose checks it (the three healthchecks above).
    healthcheck = re.search(r"^HEALTHCHECK .*\n\s+CMD (.+)$", (ROOT / "docker/server.Dockerfile").read_text(), re.M)
    assert healthcheck and "/v1/health" in healthcheck.group(1)
