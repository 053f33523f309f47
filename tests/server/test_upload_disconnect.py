"""An upload the client aborts halfway, against a real `netadapt serve` (issue 20, item
7): the operator's log gets one INFO line saying so (no traceback, no error, no 500), no
file or record is left, and the server keeps serving."""

from __future__ import annotations

import re
import socket

import httpx

from tests.device_agent.live import free_port, wait_until
from tests.helpers.server_process import API_HEADERS, ServerProcess
from tests.server.conftest import API_TOKEN


def test_an_upload_aborted_by_the_client_is_one_info_line(tmp_path):
    with ServerProcess(tmp_path / "data", free_port()) as server:
        head = (
            "POST /v1/models?filename=half.keras HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {API_TOKEN}\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: 1000000\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head.encode() + b"PK" + bytes(99_998))
        line = wait_until(
            lambda: re.search(r"^INFO: +POST /v1/models: the client disconnected .*$", server.log(), re.MULTILINE),
            timeout=30, what="the server to log the aborted upload",
        ).group(0)
        assert "100,000 of 1,000,000 bytes" in line and "nothing was stored" in line
        assert httpx.get(f"{server.base_url}/v1/models", headers=API_HEADERS).json() == []
        log = server.log()
    assert "Traceback" not in log and "ERROR" not in log and "unhandled" not in log, log
    assert '"POST /v1/models' not in log, log  # no access-log line: no response went out
    assert log.count("client disconnected") == 1, log
    incoming = tmp_path / "data" / "incoming"
    assert not incoming.exists() or not any(incoming.iterdir())
