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
from service.netadapt.option_fields import field_defaults, without_new_defaults
from service.pruning.options import TrainingOptions
from service.run_options import (
    engine_option,
    engine_options,
    rest_annotation,
    rest_field,
    rest_model,
    training_options,
)

Metric = Literal["latency_ms", "instructions", "macs", "params"]
MEASURED_METRICS = ("latency_ms", "instructions")
Method = Literal["netadapt", "fit"]
FIT_METHOD_HELP = (
    "'netadapt' (default): NetAdapt iterations with short-term fine-tunes, then the long-term "
    "fine-tune. 'fit': no training and no dataset: measure the model whole and remove one "
    "channel step at a time (from the layer group whose weakest channels matter least, by "
    "engine.saliency l1 or l2, in steps of engine.channel_step) until its measured cost is "
    "within the budget (a ratio is of the model's measured cost); final.keras/.tflite is the "
    "first model measured within it. A budget it cannot reach fails the run with the smallest "
    "cost measured. dataset_id, training and the other engine options are not used"
)

# Derived from the fields of NetAdaptConfig and TrainingOptions (one declaration each).
EngineOptions = rest_model(
    "EngineOptions", "The NetAdapt schedule and choices (see the NetAdapt paper, section 3).", engine_options()
)
TrainingOptionsIn = rest_model(
    "TrainingOptionsIn",
    "Short-term fine-tune per proposal, holdout split, final long-term fine-tune.",
    training_options(),
)
_BUDGET = engine_option("budget")
_BUDGET_KIND = engine_option("budget_kind")
BudgetKindIn = rest_annotation(_BUDGET_KIND)

# What request fingerprints have covered since the first version. Frozen: an option or
# field added later is left out of the fingerprint while at its default, so a request
# made before it existed keeps its hash (an Idempotency-Key retry across an upgrade is
# still the same request). Never add to these sets.
_FINGERPRINTED_BY_EVERY_VERSION = {
    "request": {
        "model_id", "dataset_id", "metric", "device", "budget", "budget_kind", "engine",
        "training", "workers",
    },
    "engine": {
        "init_reduction_ratio", "decay", "max_iterations", "channel_step", "saliency",
        "selection", "max_step_halvings",
    },
    "training": {
        "short_term_steps", "batch_size", "learning_rate", "holdout", "long_term_epochs",
        "long_term_learning_rate", "augment", "seed",
    },
}  # fmt: skip


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
    budget: float = rest_field(_BUDGET)
    budget_kind: BudgetKindIn = rest_field(_BUDGET_KIND)
    engine: EngineOptions = Field(default_factory=EngineOptions)
    training: TrainingOptionsIn = Field(default_factory=TrainingOptionsIn)
    workers: int | None = Field(None, ge=1, le=64, description="parallel fine-tunes (default: cores)")
    method: Method = Field("netadapt", description=FIT_METHOD_HELP)

    @model_validator(mode="after")
    def _consistent(self) -> RunCreate:
        from service.pruning.fit_budget import FIT_SALIENCY

        if self.method == "fit" and self.engine.saliency not in FIT_SALIENCY:
            raise ValueError(
                f"engine.saliency '{self.engine.saliency}' needs data; a fit run ranks channels by "
                f"their weights: use {' or '.join(FIT_SALIENCY)}"
            )
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
        for part, cls in (("engine", NetAdaptConfig), ("training", TrainingOptions)):
            data[part] = without_new_defaults(data[part], field_defaults(cls), _FINGERPRINTED_BY_EVERY_VERSION[part])
        top_defaults = {
            name: field.get_default(call_default_factory=True)
            for name, field in type(self).model_fields.items()
            if not field.is_required()
        }
        data = without_new_defaults(data, top_defaults, _FINGERPRINTED_BY_EVERY_VERSION["request"])
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def engine_config_kwargs(self) -> dict[str, Any]:
        return {"budget": self.budget, "budget_kind": self.budget_kind, **self.engine.model_dump()}
