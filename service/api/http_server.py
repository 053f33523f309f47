"""The HTTP layer's own refusals as problem documents, and its header size limit.

Most errors are answered by the app (service.api.errors). A few requests never reach
it: uvicorn's HTTP/1.1 parser (h11) refuses a malformed request line, a bad
Content-Length, or a request line plus headers larger than its buffer limit, and uvicorn
answers those itself with `400 text/plain`. ProblemH11Protocol makes those answers
problem documents too (431 for the oversized header block, 400 for the rest), and
HeaderSizeLimit refuses, inside the app, header blocks that h11 happened to take in one
read (h11 checks its limit only while an event is incomplete): one limit,
`max_header_bytes`, whichever layer sees the request first.

Both uvicorn entry points (`serve`, the demo's thread, the tests' servers) take their
HTTP options from `http_server_options`, so every server answers the same way.
"""

from __future__ import annotations

import asyncio
import copy
import json
from http import HTTPStatus
from typing import Any

import h11
from fastapi import FastAPI
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE  # what uvicorn falls back to, too
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import LOGGING_CONFIG, Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from service.api.errors import PROBLEM_MEDIA_TYPE, Problem, error_response
from service.settings import Settings

HEADER_SETTING = "NETADAPT_MAX_HEADER_BYTES"


def header_limit_detail(max_bytes: int) -> str:
    return (
        f"the request line and headers are larger than this server accepts ({max_bytes:,} bytes, "
        f"{HEADER_SETTING}); send fewer or shorter headers"
    )


def server_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration plus the service's own loggers at INFO, in the same
    format (`netadapt serve`: run workers started, leases expired, uploads aborted)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["service"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def http_server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for uvicorn.Config / uvicorn.run."""
    return {"http": ProblemH11Protocol, "h11_max_incomplete_event_size": settings.max_header_bytes}


class _RecordingConnection(h11.Connection):
    """h11's connection, keeping the protocol error it raised last (its status hint says
    431 for an oversized header block)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as exc:
            self.last_error = exc
            raise


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering requests it cannot parse with a problem document."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_header_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self.conn = _RecordingConnection(h11.SERVER, self.max_header_bytes)

    def send_400_response(self, msg: str) -> None:  # uvicorn calls it on any h11 parse error
        error = self.conn.last_error
        status = getattr(error, "error_status_hint", 400) if error is not None else 400
        if status == 431:
            detail = header_limit_detail(self.max_header_bytes)
        else:
            reason = str(error) if error is not None and str(error) else msg
            detail = f"the request is not valid HTTP/1.1 ({reason}); check the request line and headers"
        try:
            title = HTTPStatus(status).phrase
        except ValueError:
            status, title = 400, HTTPStatus(400).phrase
        body = json.dumps(Problem(title=title, status=status, detail=detail).model_dump()).encode()
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (h11.Response(status_code=status, headers=headers, reason=title.encode()), h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def install_header_limit(app: FastAPI, max_bytes: int) -> None:
    app.add_middleware(HeaderSizeLimit, max_bytes=max_bytes)


class HeaderSizeLimit:
    """ASGI middleware: 431 problem for a request line plus headers over `max_bytes`
    (counted as on the wire: 'NAME: VALUE\\r\\n' per header)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _header_block_size(scope) > self.max_bytes:
            response = error_response(431, header_limit_detail(self.max_bytes), instance=scope.get("path"))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _header_block_size(scope: Scope) -> int:
    target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 1
    request_line = len(scope.get("method", "")) + target + len(" HTTP/1.1\r\n") + 1
    return request_line + sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))
