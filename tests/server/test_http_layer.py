"""What the HTTP layer itself answers (issue 20, item 6): a header block over the limit is
a 431 problem document whichever layer sees it first (uvicorn's h11 parser for a block
that arrives in several reads, the app for one that arrived whole), a request that is not
HTTP is a 400 problem document, and the server goes on serving."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.server.conftest import LiveServer, make_settings, running_server

PROBLEM = "application/problem+json"
HEADER_LIMIT = 16 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("http") / "data", max_header_bytes=HEADER_LIMIT)
    with running_server(settings) as live:
        yield live


@pytest.mark.parametrize("size", [1_000_000, 100_000, HEADER_LIMIT + 1])
def test_headers_over_the_limit_get_a_431_problem(server: LiveServer, size: int) -> None:
    response = httpx.get(f"{server.base_url}/v1/health", headers={"X-Padding": "a" * size}, timeout=30)
    assert response.status_code == 431, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == 431 and "NETADAPT_MAX_HEADER_BYTES" in body["detail"] and f"{HEADER_LIMIT:,}" in body["detail"]
    assert httpx.get(f"{server.base_url}/v1/health").status_code == 200


def test_headers_under_the_limit_are_served(server: LiveServer) -> None:
    response = httpx.get(f"{server.base_url}/v1/health", headers={"X-Padding": "a" * (HEADER_LIMIT // 2)})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("raw", [b"GARBAGE\r\n\r\n", b"GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n"])
def test_a_request_that_is_not_http_gets_a_400_problem(server: LiveServer, raw: bytes) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes the connection after answering
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request"), answer
    assert b"content-type: application/problem+json" in head.lower()
    assert b'"status": 400' in body and b"not valid HTTP/1.1" in body, body
    assert httpx.get(f"{server.base_url}/v1/health").status_code == 200
