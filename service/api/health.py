"""Liveness for load balancers and compose health checks (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from service.api.deps import SessionDep
from service.api.errors import problem_responses

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
    database: str


@router.get("/health", response_model=HealthOut, responses=problem_responses(503))
def health(session: SessionDep) -> HealthOut:
    """200 when the server answers and its database does."""
    from service.api.errors import api_error

    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        raise api_error(503, f"database unreachable: {type(exc).__name__}") from None
    return HealthOut(status="ok", database=session.get_bind().dialect.name)
