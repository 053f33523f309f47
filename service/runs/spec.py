"""What a run asks for: the body of POST /v1/runs, with a default for every option.

Shared by the API (validation, OpenAPI) and the worker (which turns it into the
engine's and the trainer's settings), so both read the same names and defaults.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.netadapt import NetAdaptConfig

Metric = Literal["latency_ms", "instructions", "macs", "params"]
MEASURED_METRICS = ("latency_ms", "instructions")


class EngineOptions(BaseModel):
    """The NetAdapt schedule and choices (see the NetAdapt paper, section 3)."""

    model_config = ConfigDict(extra="forbid")

    init_reduction_ratio: float = Field(
        0.025, gt=0, lt=1, description="fraction of the baseline cost removed in the first iteration"
    )
    decay: float = Field(0.96, gt=0, le=1, description="the step shrinks by this factor every iteration")
    max_iterations: int = Field(100, ge=1, le=10_000)
    channel_step: int = Field(8, ge=1, le=1024, description="channel counts stay multiples of this")
    saliency: Literal["l1", "l2", "apoz"] = "l1"
    selection: Literal["max_accuracy", "min_drop_per_cost"] = "max_accuracy"
    max_step_halvings: int = Field(3, ge=0, le=20)
    waypoints: list[float] = Field(
        default_factory=list,
        max_length=100,
        description="intermediate budgets, in the same kind as `budget` (e.g. [0.75, 0.6]), that "
        "the run lands on exactly on its way down; each is kept as an iteration model",
    )


class TrainingOptionsIn(BaseModel):
    """Short-term fine-tune per proposal, holdout split, final long-term fine-tune."""

    model_config = ConfigDict(extra="forbid")

    short_term_steps: int = Field(100, ge=1, le=1_000_000)
    batch_size: int = Field(64, ge=1, le=65_536)
    learning_rate: float = Field(1e-3, gt=0, le=10)
    holdout: float = Field(
        0.15, gt=0, le=1_000_000, description="fraction (< 1) or count (>= 1) of training samples held out"
    )
    long_term_epochs: int = Field(10, ge=0, le=10_000)
    long_term_learning_rate: float = Field(3e-4, gt=0, le=10)
    augment: bool = False
    seed: int = Field(0, ge=0, le=2**31 - 1)


class RunCreate(BaseModel):
    """A NetAdapt run: prune `model_id` to `budget` on `device`, fine-tuning on `dataset_id`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model_id": "3f2a...e9 (the id POST /v1/models returned)",
                    "dataset_id": "digits",
                    "metric": "latency_ms",
                    "device": "a1b2c3d4e5f60718",
                    "budget": 0.6,
                }
            ]
        },
    )

    model_id: str = Field(min_length=1, max_length=64, description="id from POST /v1/models")
    dataset_id: str = Field(
        "digits", min_length=1, max_length=64, description="'digits' or an id from POST /v1/datasets"
    )
    metric: Metric = "macs"
    device: str | None = Field(
        None, max_length=64, description="device profile id (GET /v1/profiles); required for measured metrics"
    )
    budget: float = Field(gt=0, description="a ratio of the baseline cost in (0, 1], or a cost if budget_kind is absolute")
    budget_kind: Literal["ratio", "absolute"] = "ratio"
    engine: EngineOptions = Field(default_factory=EngineOptions)
    training: TrainingOptionsIn = Field(default_factory=TrainingOptionsIn)
    workers: int | None = Field(None, ge=1, le=64, description="parallel fine-tunes (default: cores)")

    @model_validator(mode="after")
    def _consistent(self) -> RunCreate:
        if self.budget_kind == "ratio" and self.budget > 1:
            raise ValueError(
                f"budget {self.budget} is a ratio of the baseline cost and must be in (0, 1]; "
                "use e.g. 0.6 for 60% of the baseline, or budget_kind 'absolute'"
            )
        if self.metric in MEASURED_METRICS and not self.device:
            raise ValueError(
                f"metric '{self.metric}' is measured on a device: give 'device', a profile id "
                "from GET /v1/profiles (an agent must be registered for it)"
            )
        # The engine's own checks (waypoints against the budget, ...), so the API refuses
        # with the same message the worker would fail with.
        config = NetAdaptConfig(**self.engine_config_kwargs())
        # Stored in the engine's order, so the same waypoints in another order are the
        # same request.
        self.engine.waypoints = list(config.waypoints)
        return self

    def fingerprint(self) -> str:
        """sha256 of the canonical request: equal for equal requests, defaults included."""
        data = self.model_dump(mode="json")
        # Left out when empty, so requests made before waypoints existed keep their hash
        # (an Idempotency-Key retry across an upgrade is still the same request).
        if not data["engine"]["waypoints"]:
            del data["engine"]["waypoints"]
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def engine_config_kwargs(self) -> dict[str, Any]:
        return {"budget": self.budget, "budget_kind": self.budget_kind, **self.engine.model_dump()}
