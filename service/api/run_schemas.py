"""Response bodies of the runs API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.db.runs import Run
from service.runs.spec import RunCreate


RunStatus = Literal["queued", "running", "cancelling", "cancelled", "finished", "failed"]


class RunOut(BaseModel):
    id: str
    status: RunStatus
    phase: str = Field(description="queued | measuring | iterating | finalizing | done")
    model_id: str
    dataset_id: str
    device: str | None
    metric: str
    budget: float
    budget_kind: str
    progress: float = Field(description="0..1: cost reduction so far towards the budget, then the final fine-tune")
    iterations_done: int = Field(description="iterations finished so far")
    baseline_cost: float | None
    current_cost: float | None
    budget_cost: float | None
    baseline_accuracy: float | None = Field(description="holdout accuracy of the baseline")
    current_accuracy: float | None = Field(description="holdout accuracy of the current model")
    baseline_test_accuracy: float | None
    test_accuracy: float | None = Field(description="test accuracy of the final model")
    stop_reason: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    request: RunCreate

    @classmethod
    def of(cls, run: Run) -> RunOut:
        request = RunCreate.model_validate(run.request)
        return cls(
            id=run.id,
            status=run.status,
            phase=run.phase,
            model_id=run.model_id,
            dataset_id=run.dataset_id,
            device=run.profile_id,
            metric=run.metric,
            budget=request.budget,
            budget_kind=request.budget_kind,
            progress=run.progress,
            iterations_done=run.iterations_done,
            baseline_cost=run.baseline_cost,
            current_cost=run.current_cost,
            budget_cost=run.budget_cost,
            baseline_accuracy=run.baseline_accuracy,
            current_accuracy=run.current_accuracy,
            baseline_test_accuracy=run.baseline_test_accuracy,
            test_accuracy=run.test_accuracy,
            stop_reason=run.stop_reason,
            error=run.error,
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            request=request,
        )


class RunEventOut(BaseModel):
    seq: int = Field(description="1, 2, 3, ... per run; ask for events after the last one you saw")
    at: datetime
    type: str = Field(
        description="created | status | baseline_measured | waiting_for_measurements | iteration_started | "
        "proposal_finished | step_halved | iteration_finished | finalizing | finished"
    )
    data: dict[str, Any]


class ProposalOut(BaseModel):
    iteration: int
    group: str = Field(description="the channel group this proposal shrank")
    channels: int = Field(description="the group's channel count in this proposal")
    estimated_cost: float
    holdout_accuracy: float | None = Field(description="null while it is being fine-tuned")
    finetune_seconds: float | None
    kept: bool


class IterationOut(BaseModel):
    index: int
    kept_group: str
    channels: int = Field(description="the kept group's channel count")
    cost: float = Field(description="the kept model's cost (measured whole on the device for measured metrics)")
    holdout_accuracy: float
    group_channels: dict[str, int] = Field(description="channel count of every group after this iteration")
    proposals: int
    artifacts: list[str] = Field(description="names for GET /v1/runs/{id}/artifacts/{name}")
    waypoint: float | None = Field(
        None, description="the requested waypoint (engine.waypoints) this iteration landed on, if any"
    )


class ArtifactOut(BaseModel):
    name: str
    kind: str = Field(description="baseline | iteration | final | report")
    format: str = Field(description="keras | tflite | json")
    iteration: int | None
    size_bytes: int
    url: str
