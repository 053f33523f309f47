"""The engine's persisted state: its JSON layout, and conversions to and from it.

The layout (schema version 1) is :class:`EngineState` and the records it holds, below;
every value is plain JSON, and a TypedDict is a plain dict at run time, so a checkpoint
loads as it was saved. Keys marked NotRequired are missing in checkpoints written before
they existed; readers use .get() for them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from service.netadapt.config import NetAdaptConfig
from service.netadapt.errors import UserError
from service.netadapt.interfaces import ModelRef

SCHEMA_VERSION = 1


class BaselineRecord(TypedDict):
    """The unpruned model as measured before the first iteration."""

    groups: dict[str, int]
    cost: float
    estimated_cost: NotRequired[float]
    cost_source: NotRequired[str]  # "measured" (by the device) or "estimated"
    holdout_accuracy: float | None  # None for a fit run: it reads no data
    budget_cost: float
    waypoint_costs: NotRequired[list[float]]  # one per configured waypoint


class CurrentModel(TypedDict):
    """The model the next iteration starts from."""

    model: ModelRef
    config: dict[str, int]
    cost: float
    holdout_accuracy: float | None
    measured: NotRequired[bool]  # whether `cost` was measured whole on the device


class ResultRecord(TypedDict):
    """A proposal's fine-tuned result (ProposalResult as JSON)."""

    model: ModelRef
    holdout_accuracy: float
    finetune_seconds: float
    extra: dict[str, Any]


class PrescreenRecord(TypedDict):
    """A proposal scored on the holdout without fine-tuning (prescreen K)."""

    holdout_accuracy: float
    holdout_loss: float | None
    seconds: float


class ProposalRecord(TypedDict):
    """A planned proposal of the pending iteration (ProposalSpec as JSON) and its results."""

    iteration: int
    group: str
    channels: int
    keep: list[int]
    parent: ModelRef
    estimated_cost: float
    config: dict[str, int]
    stage: NotRequired[str]  # "finetune" or "prescreen"
    result: ResultRecord | None
    prescreen: NotRequired[PrescreenRecord]


class Attempt(TypedDict):
    """One try at an iteration's target; the step halves until some group can meet it."""

    step: float
    target: float
    aim: float  # what candidates are priced against (below target by the prediction error)
    probes: int  # estimator calls it took
    proposable: list[str]  # groups that can meet it


class Anchor(TypedDict):
    """The current model's measured cost and its estimate, that candidates are priced from."""

    cost: float
    estimate: float


class PendingIteration(TypedDict):
    """The iteration in progress: its plan, proposals and results so far."""

    index: int
    initial_step: float
    step: float
    target: float
    step_halvings: int
    attempts: list[Attempt]
    probes: int
    proposals: list[ProposalRecord]
    waypoint: NotRequired[float | None]  # the configured waypoint the target is, if any
    aim: NotRequired[float]
    anchor: NotRequired[Anchor | None]
    finetune_groups: NotRequired[list[str]]  # prescreen K: the groups chosen to fine-tune


class ProposalSummary(TypedDict):
    """One proposal as a finished iteration's history shows it; the keys from
    holdout_accuracy on are there only when it was fine-tuned."""

    group: str
    channels: int
    keep: list[int]
    estimated_cost: float
    finetuned: NotRequired[bool]
    prescreen: NotRequired[PrescreenRecord | None]
    holdout_accuracy: NotRequired[float]
    accuracy_drop: NotRequired[float]
    drop_per_cost: NotRequired[float | None]
    finetune_seconds: NotRequired[float]
    model: NotRequired[ModelRef]
    extra: NotRequired[dict[str, Any]]


class ParentRecord(TypedDict):
    model: ModelRef
    cost: float
    holdout_accuracy: float | None


class KeptRecord(TypedDict):
    """The proposal an iteration kept, as landed (measured and maybe shaved)."""

    group: str
    channels: int
    model: ModelRef
    holdout_accuracy: float
    estimated_cost: float
    cost: float
    cost_source: NotRequired[str]  # "measured" or "estimated"


class ShavedStep(TypedDict):
    group: NotRequired[str]  # missing in histories from before other groups could be shaved
    channels: int
    cost: float
    holdout_accuracy: float


class Landing(TypedDict):
    """How a measured kept model landed: its prediction, measurement and shaved steps."""

    predicted: float
    measured: float
    prediction_error: float | None
    shaved: list[ShavedStep]
    difference_predicted: NotRequired[float]  # anchored runs: the unanchored prediction
    shaving_stopped: NotRequired[str]  # why shaving stopped above the target, when it did


class IterationRecord(TypedDict):
    """A finished iteration."""

    index: int
    initial_step: float
    step: float
    target: float
    aim: float
    step_halvings: int
    attempts: list[Attempt]
    probes: int
    finetune_groups: list[str] | None
    parent: ParentRecord
    proposals: list[ProposalSummary]
    kept: KeptRecord
    landing: NotRequired[Landing | None]  # None for analytic metrics
    channels: dict[str, int]
    artifact: ModelRef
    waypoint: NotRequired[float | None]  # the configured waypoint it landed on


class StopRecord(TypedDict):
    reason: str
    message: str
    iteration: NotRequired[int]  # no_proposal_meets_target: where, and what was tried
    attempts: NotRequired[list[Attempt]]


class FinalRecord(TypedDict):
    """The long-term fine-tuned result."""

    model: ModelRef
    test_accuracy: float | None
    source_model: ModelRef
    cost: float
    channels: dict[str, int]


class EngineState(TypedDict):
    """Everything a run has learnt; saved after every step that would be expensive to
    redo."""

    schema_version: int
    config: dict[str, Any]  # NetAdaptConfig.to_dict()
    baseline_model: ModelRef  # the model the run started from
    metric: str  # the estimator's metric (cost unit)
    baseline: BaselineRecord | None  # None until measured
    current: CurrentModel | None  # None until the baseline is measured
    iterations: list[IterationRecord]
    pending: PendingIteration | None
    stop: StopRecord | None  # None while running
    final: FinalRecord | None  # None until the long-term fine-tune is done
    method: NotRequired[str]  # "fit" for a fit run's checkpoint (service/runs/fit_job.py)
    fit: NotRequired[dict[str, Any]]  # a fit run's steps


class WaypointSummary(TypedDict):
    waypoint: float
    cost: float
    iteration: int | None  # None (and the rest) if the run stopped before reaching it
    reached_cost: float | None
    model: ModelRef | None


class RunSummary(TypedDict):
    """The short summary of a report (build_report)."""

    stop_reason: str | None
    iterations: int
    baseline_cost: float | None
    budget_cost: float | None
    final_cost: float | None
    baseline_holdout_accuracy: float | None
    final_holdout_accuracy: float | None
    final_channels: dict[str, int] | None
    final_model: ModelRef | None
    test_accuracy: float | None
    waypoints: list[WaypointSummary]


class RunMismatchError(UserError, ValueError):
    """The checkpoint belongs to a different run than the one being started."""


def new_state(cfg: NetAdaptConfig, baseline_model: ModelRef, metric: str) -> EngineState:
    return {
        "schema_version": SCHEMA_VERSION,
        "config": cfg.to_dict(),
        "baseline_model": baseline_model,
        "metric": metric,
        "baseline": None,
        "current": None,
        "iterations": [],
        "pending": None,
        "stop": None,
        "final": None,
    }


def check_resumable(
    state: Mapping[str, Any], cfg: NetAdaptConfig, baseline_model: ModelRef, metric: str
) -> None:
    """Raise RunMismatchError unless `state` is a checkpoint of this very run."""
    version = state.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RunMismatchError(
            f"the run dir holds a checkpoint with schema version {version!r}; this engine "
            f"reads version {SCHEMA_VERSION}. Use a new run dir."
        )
    stored = state.get("config", {})
    given = cfg.to_dict()
    differences = [
        f"{name}: stored {stored.get(name)!r}, given {given.get(name)!r}"
        for name in sorted(set(stored) | set(given))
        if stored.get(name) != given.get(name)
    ]
    if state.get("baseline_model") != baseline_model:
        differences.append(
            f"baseline_model: stored {state.get('baseline_model')!r}, given {baseline_model!r}"
        )
    if state.get("metric") != metric:
        differences.append(f"metric: stored {state.get('metric')!r}, given {metric!r}")
    if differences:
        raise RunMismatchError(
            "the run dir holds a run with different settings ("
            + "; ".join(differences)
            + "). Resume it with the stored settings, or use a new run dir."
        )


def build_report(state: EngineState) -> dict[str, Any]:
    """What a finished (or stopped) run returns: the full history (the state but its
    pending iteration) plus a short summary (RunSummary, under "summary")."""
    report: dict[str, Any] = {
        key: copy.deepcopy(value) for key, value in state.items() if key != "pending"
    }
    report["summary"] = run_summary(state)
    return report


def run_summary(state: EngineState) -> RunSummary:
    baseline, current, final = state["baseline"], state["current"], state["final"]
    return {
        "stop_reason": _field(state["stop"], "reason"),
        "iterations": len(state["iterations"]),
        "baseline_cost": _field(baseline, "cost"),
        "budget_cost": _field(baseline, "budget_cost"),
        "final_cost": _field(current, "cost"),
        "baseline_holdout_accuracy": _field(baseline, "holdout_accuracy"),
        "final_holdout_accuracy": _field(current, "holdout_accuracy"),
        "final_channels": copy.deepcopy(_field(current, "config")),
        "final_model": _field(final, "model"),
        "test_accuracy": _field(final, "test_accuracy"),
        "waypoints": _waypoint_summary(state),
    }


def _field(record: Mapping[str, Any] | None, key: str) -> Any:
    """A record's field; None while the record is (or the field was not yet) written."""
    return (record or {}).get(key)


def _waypoint_summary(state: EngineState) -> list[WaypointSummary]:
    """Per configured waypoint, the first iteration at or under its cost: the model a run to
    that budget would have ended with (iteration and model null if the run stopped first)."""
    values = state["config"].get("waypoints", [])
    baseline = state["baseline"]
    costs = baseline.get("waypoint_costs", []) if baseline else []
    summary: list[WaypointSummary] = []
    for value, cost in zip(values, costs):
        reached = next((it for it in state["iterations"] if it["kept"]["cost"] <= cost), None)
        summary.append(
            {
                "waypoint": value,
                "cost": cost,
                "iteration": None if reached is None else reached["index"],
                "reached_cost": None if reached is None else reached["kept"]["cost"],
                "model": None if reached is None else reached["artifact"],
            }
        )
    return summary
