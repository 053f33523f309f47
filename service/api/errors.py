"""Every error response is made here: `{"detail": "<message a person can act on>"}`.

One place so the body can switch to RFC 7807 problem details later without touching
the routers. Routers raise `api_error(...)` or a queue error; nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.queue.errors import InvalidResult, JobConflict, JobNotFound, QueueError

_QUEUE_ERROR_STATUS: list[tuple[type[QueueError], int]] = [
    (JobNotFound, 404),
    (JobConflict, 409),
    (InvalidResult, 422),
]


def api_error(status_code: int, detail: str, headers: Mapping[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status_code, detail=detail, headers=dict(headers) if headers else None)


def unauthorized(detail: str) -> HTTPException:
    return api_error(401, detail, {"WWW-Authenticate": "Bearer"})


def error_response(status_code: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code, headers=dict(headers) if headers else None)


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """'field: problem; ...' from pydantic's error list, naming where each field was."""
    parts = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ())]
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "")
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            parts.append(f"the request body is not valid JSON ({reason}{at})")
            continue
        where, path = (loc[0], ".".join(loc[1:])) if loc else ("request", "")
        message = str(error.get("msg", "invalid value"))
        parts.append(f"{path} ({where}): {message}" if path else f"{where}: {message}")
    return "; ".join(parts) or "invalid request"


async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), exc.headers)


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(422, describe_validation_errors(list(exc.errors())))


async def _queue_error(_: Request, exc: QueueError) -> JSONResponse:
    status = next((code for kind, code in _QUEUE_ERROR_STATUS if isinstance(exc, kind)), 400)
    return error_response(status, str(exc))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(QueueError, _queue_error)  # type: ignore[arg-type]
