"""Every error response is made here, as RFC 9457 (formerly 7807) problem details.

Body: `{"type", "title", "status", "detail", "instance"}` with media type
`application/problem+json`; `detail` is a message a person can act on. Routers raise
`api_error(...)` or a UserError (any package's: its `http_status` and message are the
answer); nothing else builds error bodies.
`problem_responses(...)` documents the same shape in the OpenAPI document.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from service.netadapt.errors import UserError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class UploadAborted(ClientDisconnect):
    """The client went away while sending a body; the message says how far it got."""


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no run 'abc'; GET /v1/runs lists the runs"])
    instance: str | None = Field(None, examples=["/v1/runs/abc"])


_DEFAULT_DESCRIPTIONS = {
    400: "The request cannot be carried out as asked",
    401: "Missing or wrong bearer token",
    403: "The token is valid but may not do this",
    404: "No such resource",
    409: "Conflicts with the resource's current state",
    413: "Body larger than the server accepts",
    415: "Unsupported media type",
    422: "The request is malformed or a value is invalid",
    503: "The server is not ready to do this now",
}


def problem_responses(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for these status codes, all with the Problem body.

    `described` overrides a description: `problem_responses(404, c409="run still active")`.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        description = described.get(f"c{code}", _DEFAULT_DESCRIPTIONS.get(code, HTTPStatus(code).phrase))
        out[code] = {
            "model": Problem,
            "description": description,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out


def api_error(status_code: int, detail: str, headers: Mapping[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status_code, detail=detail, headers=dict(headers) if headers else None)


def unauthorized(detail: str) -> HTTPException:
    return api_error(401, detail, {"WWW-Authenticate": "Bearer"})


def error_response(
    status_code: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    try:
        title = HTTPStatus(status_code).phrase
    except ValueError:
        title = "Error"
    body = Problem(title=title, status=status_code, detail=detail, instance=instance)
    return JSONResponse(
        body.model_dump(),
        status_code=status_code,
        headers=dict(headers) if headers else None,
        media_type=PROBLEM_MEDIA_TYPE,
    )


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


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = str(exc.detail)
    # Starlette's own answers for paths and methods no route has, made actionable.
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no endpoint at {request.url.path}; /docs lists them"
    headers = exc.headers
    if exc.status_code == 405 and detail == "Method Not Allowed":
        # Starlette's Allow names the first matching route's methods only; the path may
        # have other routes (GET and PUT declared separately).
        allowed = _allowed_methods(request)
        headers = {**(exc.headers or {}), "Allow": ", ".join(allowed)}
        detail = f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
    return error_response(exc.status_code, detail, headers, request.url.path)


def _allowed_methods(request: Request) -> list[str]:
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(422, describe_validation_errors(list(exc.errors())), instance=request.url.path)


async def _user_error(request: Request, exc: UserError) -> JSONResponse:
    return error_response(exc.http_status, str(exc), instance=request.url.path)


async def _client_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
    # The client's doing, not a fault of the server's: one line for the operator.
    reason = str(exc) or "the client disconnected before the request body had arrived"
    log.info("%s %s: %s", request.method, request.url.path, reason)
    # Never delivered (the connection is gone), but the app must answer something.
    return error_response(400, reason, instance=request.url.path)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the server log; the client gets a problem, not a bare text.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(
        500, f"internal server error ({type(exc).__name__}); the server log has the details",
        instance=request.url.path,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(UserError, _user_error)  # type: ignore[arg-type]
    app.add_exception_handler(ClientDisconnect, _client_gone)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
