"""Response bodies of the runs API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field
from typing_extensions import TypeAliasType

from service.db.runs import ACTIVE_STATUSES, RESUMABLE_STATUSES, TERMINAL_STATUSES, Run
from service.row_fields import same_named
from service.runs.spec import RunCreate

RunStatusValue = Literal["queued", "running", "cancelling", "cancelled", "finished", "failed"]
# A named schema (components/schemas/RunStatus), with the groups a client acts on.
RunStatus = TypeAliasType(
    "RunStatus",
    Annotated[
        RunStatusValue,
        Field(
            description=(
                "queued -> running -> finished | failed; cancel: queued/running -> cancelling -> cancelled. "
                f"Terminal (the run does nothing more; its event stream ends; it may be deleted): "
                f"{', '.join(TERMINAL_STATUSES)}. Active (cancel allowed): {', '.join(ACTIVE_STATUSES)}. "
                f"Resumable (POST .../resume queues it again): {', '.join(RESUMABLE_STATUSES)}."
            ),
            json_schema_extra={
                "x-terminal": list(TERMINAL_STATUSES),
                "x-active": list(ACTIVE_STATUSES),
                "x-resumable": list(RESUMABLE_STATUSES),
            },
        ),
    ],
)
RUN_STATUS_VALUES = get_args(RunStatusValue)

STOP_REASONS = ("budget_met", "max_iterations", "no_proposal_meets_target")
BUDGET_GUARANTEE = (
    "A run that finished with stop_reason 'budget_met' has current_cost <= budget_cost (for measured "
    "metrics: as measured on the device when its last iteration was kept; the final fine-tune changes "
    "weights, not the architecture). A run can also finish above the budget, with stop_reason "
    "'max_iterations' or 'no_proposal_meets_target': status 'finished' alone does not mean the budget "
    "was met; check stop_reason."
)


class RunOut(BaseModel):
    id: str
    status: RunStatus
    phase: str = Field(description="what it is doing: queued | measuring | iterating | finalizing | done")
    model_id: str
    dataset_id: str
    device: str | None
    metric: str
    budget: float
    budget_kind: str
    progress: float = Field(description="0..1: cost reduction so far towards the budget, then the final fine-tune")
    iterations_done: int = Field(description="iterations finished so far")
    baseline_cost: float | None = Field(description="cost of the uploaded model, in the metric's unit")
    current_cost: float | None = Field(description="cost of the latest kept model. " + BUDGET_GUARANTEE)
    budget_cost: float | None = Field(description="the budget in the metric's unit (budget x baseline_cost for ratios)")
    baseline_accuracy: float | None = Field(description="holdout accuracy of the baseline")
    current_accuracy: float | None = Field(description="holdout accuracy of the current model")
    baseline_test_accuracy: float | None
    test_accuracy: float | None = Field(description="test accuracy of the final model")
    tflite_test_accuracy: float | None = Field(
        None,
        description="test accuracy of final.tflite run with LiteRT: for training.precision 'int8' the "
        "quantized model's, beside the Keras model's test_accuracy; null until the run finishes",
    )
    stop_reason: str | None = Field(
        description=f"why the iterations stopped: {' | '.join(STOP_REASONS)}; null until then. " + BUDGET_GUARANTEE
    )
    error: str | None = Field(description="why the run failed (what to change), for status failed")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    request: RunCreate

    @classmethod
    def of(cls, run: Run) -> RunOut:
        request = RunCreate.model_validate(run.request)
        return cls(
            **same_named(
                run, cls.model_fields, device=run.profile_id, budget=request.budget,
                budget_kind=request.budget_kind, request=request,
            )
        )


class RunEventOut(BaseModel):
    """One entry of a run's event log (GET .../events, and each `data:` line of .../events/stream)."""

    seq: int = Field(description="1, 2, 3, ... per run; ask for events after the last one you saw")
    at: datetime
    type: str = Field(
        description="created | status | baseline_measured | waiting_for_measurements | iteration_started | "
        "proposal_finished | step_halved | iteration_finished | fit_step (runs with method 'fit') | finalizing | "
        "finished (more may be added: "
        "ignore types you do not know). A `status` event's data is {status: RunStatus, message: string}; "
        "the run's last event, once its status is terminal, is such an event."
    )
    data: dict[str, Any] = Field(description="the event's fields, by type (see `type`)")


class ProposalOut(BaseModel):
    iteration: int
    group: str = Field(description="the channel group this proposal shrank")
    channels: int = Field(description="the group's channel count in this proposal")
    estimated_cost: float
    holdout_accuracy: float | None = Field(
        description="after its short-term fine-tune; null while it is being fine-tuned, and for a "
        "proposal that was only prescreened"
    )
    finetune_seconds: float | None
    kept: bool
    finetuned: bool = Field(
        True, description="false when the engine's prescreen left it out of the fine-tunes (or will)"
    )
    prescreen_accuracy: float | None = Field(
        None, description="holdout accuracy without fine-tuning (engine.prescreen > 0), else null"
    )


class IterationOut(BaseModel):
    index: int
    kept_group: str
    channels: int = Field(description="the kept group's channel count")
    cost: float = Field(description="the kept model's cost (measured whole on the device for measured metrics)")
    holdout_accuracy: float
    group_channels: dict[str, int] = Field(description="channel count of every group after this iteration")
    proposals: int
    target: float = Field(description="the cost this iteration aimed at or under")
    cost_source: str | None = Field(
        None, description="measured (a whole-model measurement on the device) | estimated (analytic metrics)"
    )
    predicted_cost: float | None = Field(
        None, description="what the engine predicted for the kept model before measuring it (measured metrics)"
    )
    shaved: int = Field(
        0, description="channel steps taken from the kept group after it measured above the target"
    )
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
    url: str = Field(
        description="where to GET the file: a path relative to the server's base URL (e.g. "
        "/v1/runs/{id}/artifacts/final.tflite), to resolve against the URL you reached the server at",
        json_schema_extra={"format": "uri-reference"},
        examples=["/v1/runs/0f3c9a2d/artifacts/final.tflite"],
    )
