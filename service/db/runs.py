"""Pruning runs and their numbered event log.

A run row holds what was asked (request_json), where it is (status, phase, progress
figures for listing without parsing the state), and the engine's checkpoint
(state_json, written after every proposal by the run's worker process). Artifacts are
files under data_dir/runs/<id>/.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from latency_tables.db import Base, UTCDateTime, utcnow
from latency_tables.store import new_id
from service.netadapt.state import EngineState

QUEUED, RUNNING, CANCELLING, CANCELLED, FINISHED, FAILED = (
    "queued", "running", "cancelling", "cancelled", "finished", "failed",
)
RUN_STATUSES = (QUEUED, RUNNING, CANCELLING, CANCELLED, FINISHED, FAILED)
ACTIVE_STATUSES = (QUEUED, RUNNING, CANCELLING)
RESUMABLE_STATUSES = (CANCELLED, FAILED)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    model_id: Mapped[str] = mapped_column(String(64))
    dataset_id: Mapped[str] = mapped_column(String(64))
    profile_id: Mapped[str | None] = mapped_column(ForeignKey("device_profiles.id"))
    metric: Mapped[str] = mapped_column(String(32))
    request_json: Mapped[str] = mapped_column(Text)
    # Retries of a create with the same key return this run.
    idempotency_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))

    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    phase: Mapped[str] = mapped_column(String(32), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    stop_reason: Mapped[str | None] = mapped_column(String(64))
    iterations_done: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    baseline_cost: Mapped[float | None] = mapped_column(Float)
    current_cost: Mapped[float | None] = mapped_column(Float)
    budget_cost: Mapped[float | None] = mapped_column(Float)
    baseline_accuracy: Mapped[float | None] = mapped_column(Float)  # holdout
    current_accuracy: Mapped[float | None] = mapped_column(Float)  # holdout
    baseline_test_accuracy: Mapped[float | None] = mapped_column(Float)
    test_accuracy: Mapped[float | None] = mapped_column(Float)  # final model, test split
    tflite_test_accuracy: Mapped[float | None] = mapped_column(Float)  # final.tflite (LiteRT), test split

    state_json: Mapped[str | None] = mapped_column(Text)  # the engine's checkpoint
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    worker_starts: Mapped[int] = mapped_column(Integer, default=0)

    @property
    def request(self) -> dict[str, Any]:
        return json.loads(self.request_json)

    @property
    def state(self) -> EngineState | None:
        return json.loads(self.state_json) if self.state_json else None


class RunEvent(Base):
    """One numbered event of a run: seq counts from 1 per run and never repeats."""

    __tablename__ = "run_events"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    type: Mapped[str] = mapped_column(String(64))
    data_json: Mapped[str] = mapped_column(Text, default="{}")

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.data_json)

TERMINAL_STATUSES = (CANCELLED, FINISHED, FAILED)
