"""The OpenAPI document: FastAPI's, with every error response as a problem and names a
generated client can use.

FastAPI documents validation errors as its own `HTTPValidationError` JSON; this server
answers every error with `application/problem+json` (service/api/errors.py). Here, once,
each operation's 422 is replaced by the Problem schema, and the errors every operation
can give are added: 400 and 422 where there is a body, 404 where the path names a
resource, 401 (bearer token, except where no token is needed), 431 (headers over
NETADAPT_MAX_HEADER_BYTES), 500 (a bug: still a problem body).

Each operation's operationId is its handler's name (`create_run`, `upload_model`), not
FastAPI's path-derived one, so clients generated from the document read naturally
(`operation_id`, given to the API's routers).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from service.api.errors import PROBLEM_MEDIA_TYPE

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_UNAUTHENTICATED_PATHS = {"/v1/health"}
_METHODS = ("get", "put", "post", "delete", "patch")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}}


def _complete(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    if "422" in responses:
        # FastAPI's own 422 (HTTPValidationError) or ours merged with it: problem only.
        responses["422"] = _problem(
            responses["422"].get("description") or "A parameter or a body field is invalid"
        )
        if responses["422"]["description"] == "Validation Error":
            responses["422"]["description"] = "A parameter or a body field is invalid; detail names it"
    for code, problem in responses.items():
        if code.startswith(("4", "5")) and "content" in problem:
            problem["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
    if "requestBody" in operation:
        responses.setdefault("400", _problem("The body could not be parsed"))
        responses.setdefault("422", _problem("The body is invalid; detail says what to change"))
    if "{" in path:
        responses.setdefault("404", _problem("Nothing has the id in the path"))
    if path not in _UNAUTHENTICATED_PATHS:
        responses.setdefault("401", _problem("Missing or wrong bearer token"))
    responses.setdefault("431", _problem("The request line and headers exceed NETADAPT_MAX_HEADER_BYTES"))
    responses.setdefault("500", _problem("A server bug; the detail says what failed"))


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                _complete(path, item[method])
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    schema["components"].setdefault("securitySchemes", {})
    app.openapi_schema = schema
    return schema


def operation_id(route: APIRoute) -> str:
    """The handler's name; names are unique across the API (tests/server/test_openapi_document.py)."""
    return route.name


def install_openapi(app: FastAPI) -> None:
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
