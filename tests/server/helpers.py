"""Small builders shared by the server tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from latency_tables import LayerSignature
from latency_tables.protocol import DeviceDescription, RegistrationReply, lease_path, register_path
from tests.server.conftest import AGENT_TOKEN, API_TOKEN

API_HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


def conv(out_channels: int, size: int = 12) -> LayerSignature:
    return LayerSignature(
        op="CONV_2D",
        inputs=[(1, size, size, 8)],
        output=(1, size, size, out_channels),
        kernel=(3, 3),
        stride=(1, 1),
        padding="SAME",
    )


def device(metric: str = "latency_ms", cpu: str | None = None) -> DeviceDescription:
    """A device of its own profile (unique cpu_model) unless `cpu` is given."""
    return DeviceDescription(
        backend="host-latency" if metric == "latency_ms" else "host-instructions",
        cpu_model=cpu or f"test-cpu-{uuid.uuid4().hex[:8]}",
        runtime_version="ai-edge-litert 2.3.0",
        metric=metric,
    )


def fake_tflite(payload: bytes = b"model") -> bytes:
    """Bytes that pass the server's .tflite check (flatbuffer identifier 'TFL3')."""
    return b"\x1c\x00\x00\x00TFL3" + payload


def register(client: httpx.Client, name: str, dev: DeviceDescription) -> RegistrationReply:
    body = {"token": AGENT_TOKEN, "name": name, "device": dev.to_dict()}
    response = client.post(register_path(), json=body)
    assert response.status_code == 200, response.text
    return RegistrationReply.from_dict(response.json())


def bearer(reply: RegistrationReply) -> dict[str, str]:
    return {"Authorization": f"Bearer {reply.secret}"}


def lease(
    client: httpx.Client, reply: RegistrationReply, wait: float = 0.0, max_jobs: int = 10
) -> list[dict[str, Any]]:
    response = client.post(
        lease_path(reply.agent_id), json={"wait_seconds": wait, "max_jobs": max_jobs}, headers=bearer(reply)
    )
    assert response.status_code == 200, response.text
    return response.json()["jobs"]


def lookup(client: httpx.Client, profile_id: str, signatures: list[LayerSignature], metric: str = "latency_ms") -> dict:
    response = client.post(
        f"/v1/profiles/{profile_id}/lookup",
        json={"metric": metric, "signatures": [s.to_dict() for s in signatures]},
        headers=API_HEADERS,
    )
    assert response.status_code == 200, response.text
    return response.json()


def entries(client: httpx.Client, profile_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/profiles/{profile_id}/entries", headers=API_HEADERS)
    assert response.status_code == 200, response.text
    return response.json()
