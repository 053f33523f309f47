"""The engine's persisted state: its JSON layout, and conversions to and from it.

Layout (schema version 1); every value is plain JSON::

    schema_version   int
    config           NetAdaptConfig.to_dict()
    baseline_model   model ref the run started from
    metric           the estimator's metric (cost unit)
    baseline         null until measured, then {groups, cost, holdout_accuracy, budget_cost,
                     waypoint_costs} (waypoint_costs missing in older checkpoints: none)
    current          null until the baseline is measured, then the model the next iteration
                     starts from: {model, config, cost, holdout_accuracy}
    iterations       finished iteration records (see engine.py)
    pending          the iteration in progress: its plan, proposals and results so far
    stop             null while running, then {reason, message, ...}
    final            null until the long-term fine-tune is done, then {model, test_accuracy, ...}
"""

from __future__ import annotations

import copy
from typing import Any

from service.netadapt.config import NetAdaptConfig
from service.netadapt.errors import UserError
from service.netadapt.interfaces import ModelRef, ProposalResult, ProposalSpec

SCHEMA_VERSION = 1


class RunMismatchError(UserError, ValueError):
    """The checkpoint belongs to a different run than the one being started."""


def new_state(cfg: NetAdaptConfig, baseline_model: ModelRef, metric: str) -> dict[str, Any]:
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
    state: dict[str, Any], cfg: NetAdaptConfig, baseline_model: ModelRef, metric: str
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


def spec_to_record(spec: ProposalSpec) -> dict[str, Any]:
    return {
        "iteration": spec.iteration,
        "group": spec.group,
        "channels": spec.channels,
        "keep": list(spec.keep),
        "parent": spec.parent,
        "estimated_cost": spec.estimated_cost,
        "config": dict(spec.config),
        "stage": spec.stage,
        "result": None,
    }


def spec_from_record(record: dict[str, Any]) -> ProposalSpec:
    return ProposalSpec(
        iteration=record["iteration"],
        group=record["group"],
        channels=record["channels"],
        keep=tuple(record["keep"]),
        parent=record["parent"],
        estimated_cost=record["estimated_cost"],
        config=dict(record["config"]),
        # Checkpoints from before prescreening hold fine-tuned proposals only.
        stage=record.get("stage", "finetune"),
    )


def result_to_record(result: ProposalResult) -> dict[str, Any]:
    return {
        "model": result.model,
        "holdout_accuracy": float(result.holdout_accuracy),
        "finetune_seconds": float(result.finetune_seconds),
        "extra": copy.deepcopy(result.extra),
    }


def result_from_record(record: dict[str, Any], iteration: int, group: str) -> ProposalResult:
    return ProposalResult(
        iteration=iteration,
        group=group,
        model=record["model"],
        holdout_accuracy=record["holdout_accuracy"],
        finetune_seconds=record["finetune_seconds"],
        extra=copy.deepcopy(record["extra"]),
    )


def build_report(state: dict[str, Any]) -> dict[str, Any]:
    """What a finished (or stopped) run returns: the full history plus a short summary."""
    report = {key: copy.deepcopy(value) for key, value in state.items() if key != "pending"}
    baseline = state["baseline"] or {}
    current = state["current"] or {}
    final = state["final"] or {}
    stop = state["stop"] or {}
    report["summary"] = {
        "stop_reason": stop.get("reason"),
        "iterations": len(state["iterations"]),
        "baseline_cost": baseline.get("cost"),
        "budget_cost": baseline.get("budget_cost"),
        "final_cost": current.get("cost"),
        "baseline_holdout_accuracy": baseline.get("holdout_accuracy"),
        "final_holdout_accuracy": current.get("holdout_accuracy"),
        "final_channels": copy.deepcopy(current.get("config")),
        "final_model": final.get("model"),
        "test_accuracy": final.get("test_accuracy"),
        "waypoints": _waypoint_summary(state),
    }
    return report


def _waypoint_summary(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Per configured waypoint, the first iteration at or under its cost: the model a run to
    that budget would have ended with (iteration and model null if the run stopped first)."""
    values = state["config"].get("waypoints", [])
    costs = (state["baseline"] or {}).get("waypoint_costs", [])
    summary = []
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
