"""Fixtures on the module's `server` fixture (a tests.helpers.server_process.ServerProcess)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.client import NetAdaptClient
from tests.device_agent.live import Api
from tests.helpers.server_process import ServerProcess
from tests.server.conftest import API_TOKEN


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[NetAdaptClient]:
    """The Python client on the server, with the API token."""
    with NetAdaptClient(server.base_url, API_TOKEN, timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def host_latency_profile(server: ServerProcess) -> str:
    """The device profile of the server's embedded host-latency agent (`--with-agent host-latency`)."""
    live = Api(server.base_url)
    try:
        return live.profile_id("host-latency", timeout=120)
    finally:
        live.close()
