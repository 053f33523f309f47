"""Liveness for load balancers and compose health checks (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import text

from service.api.deps import SessionDep
from service.api.errors import problem_responses
from service.api.uploads import uploads_admitted

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str = Field(examples=["ok"])
    database: str = Field(description="sqlite or postgresql", examples=["sqlite"])
    uploads_admitted: int = Field(
        description="model and dataset uploads being received, inspected or waiting for an inspection slot; "
        "past NETADAPT_MAX_CONCURRENT_INSPECTIONS + NETADAPT_MAX_QUEUED_INSPECTIONS uploads get 429",
        examples=[0],
    )


@router.get("/health", response_model=HealthOut, responses=problem_responses(503))
def health(session: SessionDep, request: Request) -> HealthOut:
    """200 when the server answers and its database does."""
    from service.api.errors import api_error

    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        raise api_error(503, f"database unreachable: {type(exc).__name__}") from None
    return HealthOut(
        status="ok",
        database=session.get_bind().dialect.name,
        uploads_admitted=uploads_admitted(request.app),
    )
