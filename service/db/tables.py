"""The service's own tables (agents, jobs), on the store's Base: one metadata, one schema."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from latency_tables.db import Base, UTCDateTime, utcnow
from latency_tables.store import new_id

PENDING, LEASED, DONE, FAILED = "pending", "leased", "done", "failed"
JOB_STATUSES = (PENDING, LEASED, DONE, FAILED)
OPEN_STATUSES = (PENDING, LEASED)

# One open job per thing to measure. A partial unique index (SQLite and PostgreSQL
# both have them) lets the database itself refuse a duplicate that slips past the
# check-then-insert in queue.jobs.
_OPEN_LAYER = text("status IN ('pending', 'leased') AND kind = 'layer'")
_OPEN_MODEL = text("status IN ('pending', 'leased') AND kind = 'model'")


class Agent(Base):
    """A registered device agent: one name per profile, a per-agent secret (hash only)."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("profile_id", "name", name="uq_agent_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128))
    profile_id: Mapped[str] = mapped_column(ForeignKey("device_profiles.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the secret
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    jobs_failed: Mapped[int] = mapped_column(Integer, default=0)


class Job(Base):
    """One measurement to make: a layer signature or a whole model, on one profile."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "uq_open_layer_job",
            "profile_id",
            "metric",
            "signature_digest",
            unique=True,
            sqlite_where=_OPEN_LAYER,
            postgresql_where=_OPEN_LAYER,
        ),
        Index(
            "uq_open_model_job",
            "profile_id",
            "metric",
            "model_sha256",
            unique=True,
            sqlite_where=_OPEN_MODEL,
            postgresql_where=_OPEN_MODEL,
        ),
        # In claim order, (created_at, id): see migration 0005.
        Index("ix_jobs_claim", "profile_id", "status", "created_at", "id"),
        Index("ix_jobs_lease_expiry", "status", "lease_expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    profile_id: Mapped[str] = mapped_column(ForeignKey("device_profiles.id"))
    metric: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # layer | model
    signature_digest: Mapped[str | None] = mapped_column(String(64))
    signature_json: Mapped[str | None] = mapped_column(Text)
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    dtype: Mapped[str] = mapped_column(String(16), default="float32")
    # Model jobs: the estimate made before measuring, copied into the ModelMeasurement.
    raw_sum: Mapped[float | None] = mapped_column(Float)
    estimated: Mapped[float | None] = mapped_column(Float)

    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # leases that expired
    max_attempts: Mapped[int] = mapped_column(Integer)
    leased_by: Mapped[str | None] = mapped_column(ForeignKey("agents.id"))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # JSON list of every agent that ever leased the job: only they may report late.
    lessees_json: Mapped[str] = mapped_column(Text, default="[]")
    failure_reason: Mapped[str | None] = mapped_column(Text)

    result_median: Mapped[float | None] = mapped_column(Float)
    result_spread: Mapped[float | None] = mapped_column(Float)
    result_n: Mapped[int | None] = mapped_column(Integer)
    result_error: Mapped[str | None] = mapped_column(Text)
    result_details_json: Mapped[str | None] = mapped_column(Text)
    result_agent_id: Mapped[str | None] = mapped_column(String(32))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def lessees(self) -> list[str]:
        return list(json.loads(self.lessees_json or "[]"))

    def add_lessee(self, agent_id: str) -> None:
        self.lessees_json = self.with_lessee(agent_id)

    def with_lessee(self, agent_id: str) -> str:
        """lessees_json with `agent_id` added (unchanged if it is there)."""
        lessees = self.lessees
        return self.lessees_json if agent_id in lessees else json.dumps([*lessees, agent_id])

    @property
    def result_details(self) -> dict[str, Any]:
        return json.loads(self.result_details_json) if self.result_details_json else {}

    @property
    def attempt(self) -> int:
        """The 1-based number of the current (or next) lease."""
        return self.attempts + 1
