"""The records of the engine's state (layout in state.py), built from what the engine
decided, and the proposal specs and results they hold, converted to and from JSON."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.netadapt.interfaces import ModelRef, ProposalResult, ProposalSpec
from service.netadapt.selection import ProposalOutcome, ProposalScore
from service.netadapt.state import (
    Anchor,
    Attempt,
    CurrentModel,
    IterationRecord,
    Landing,
    PendingIteration,
    PrescreenRecord,
    ProposalRecord,
    ProposalSummary,
    ResultRecord,
)


@dataclass(frozen=True)
class Landed:
    """The kept model of an iteration as measured whole (and maybe shaved)."""

    model: ModelRef
    config: dict[str, int]
    cost: float
    cost_source: str  # "measured" or "estimated" (analytic metrics)
    holdout_accuracy: float
    landing: Landing | None  # None when nothing was measured


def spec_to_record(spec: ProposalSpec) -> ProposalRecord:
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


def spec_from_record(record: ProposalRecord) -> ProposalSpec:
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


def result_to_record(result: ProposalResult) -> ResultRecord:
    return {
        "model": result.model,
        "holdout_accuracy": float(result.holdout_accuracy),
        "finetune_seconds": float(result.finetune_seconds),
        "extra": copy.deepcopy(result.extra),
    }


def result_from_record(record: ResultRecord, iteration: int, group: str) -> ProposalResult:
    return ProposalResult(
        iteration=iteration,
        group=group,
        model=record["model"],
        holdout_accuracy=record["holdout_accuracy"],
        finetune_seconds=record["finetune_seconds"],
        extra=copy.deepcopy(record["extra"]),
    )


def attempt_record(step: float, target: float, aim: float, probes: int, proposable: list[str]) -> Attempt:
    return {"step": step, "target": target, "aim": aim, "probes": probes, "proposable": proposable}


def pending_iteration(
    index: int,
    initial_step: float,
    attempts: list[Attempt],
    proposals: list[ProposalRecord],
    waypoint: float | None,
    anchor: Anchor | None,
) -> PendingIteration:
    """The plan of an iteration: the last attempt's step and target, and its proposals."""
    last = attempts[-1]
    return {
        "index": index,
        "initial_step": initial_step,
        "step": last["step"],
        "target": last["target"],
        "step_halvings": len(attempts) - 1,
        "attempts": attempts,
        "probes": sum(a["probes"] for a in attempts),
        "proposals": proposals,
        "waypoint": waypoint,
        "aim": last["aim"],
        "anchor": anchor,
    }


def proposal_outcome(record: ProposalRecord) -> ProposalOutcome:
    """What selection needs of a fine-tuned proposal."""
    result = record["result"]
    assert result is not None  # only fine-tuned proposals are selected from
    return ProposalOutcome(
        record["group"],
        result["holdout_accuracy"],
        record["estimated_cost"],
        holdout_loss(result["extra"]),
        result["extra"].get("holdout_samples"),
    )


def prescreen_record(result: ProposalResult) -> PrescreenRecord:
    return {
        "holdout_accuracy": float(result.holdout_accuracy),
        "holdout_loss": holdout_loss(result.extra),
        "seconds": float(result.extra.get("proposal_seconds", result.finetune_seconds)),
    }


def holdout_loss(extra: Mapping[str, Any]) -> float | None:
    """The holdout loss a network reported with a result, if it did."""
    loss = extra.get("holdout_loss")
    return None if loss is None else float(loss)


def iteration_record(
    pending: PendingIteration,
    parent: CurrentModel,
    scores: Mapping[str, ProposalScore],
    kept: ProposalOutcome,
    landed: Landed,
) -> IterationRecord:
    """A finished iteration: its plan, every proposal, and the kept one as landed."""
    # Landed only if the kept model is at or under the waypoint; a measured cost above it
    # leaves it for the next iteration to aim at again.
    aimed = pending.get("waypoint")
    waypoint = aimed if aimed is not None and landed.cost <= pending["target"] else None
    return {
        "index": pending["index"],
        "initial_step": pending["initial_step"],
        "step": pending["step"],
        "target": pending["target"],
        "aim": pending.get("aim", pending["target"]),
        "step_halvings": pending["step_halvings"],
        "attempts": pending["attempts"],
        "probes": pending["probes"],
        "finetune_groups": pending.get("finetune_groups"),
        "parent": {
            "model": parent["model"],
            "cost": parent["cost"],
            "holdout_accuracy": parent["holdout_accuracy"],
        },
        "proposals": [proposal_summary(p, scores.get(p["group"])) for p in pending["proposals"]],
        "kept": {
            "group": kept.group,
            "channels": landed.config[kept.group],
            "model": landed.model,
            "holdout_accuracy": landed.holdout_accuracy,
            "estimated_cost": kept.estimated_cost,
            "cost": landed.cost,
            "cost_source": landed.cost_source,
        },
        "landing": landed.landing,
        "channels": dict(landed.config),
        "artifact": landed.model,
        "waypoint": waypoint,
    }


def proposal_summary(record: ProposalRecord, score: ProposalScore | None) -> ProposalSummary:
    """One proposal as the iteration's history shows it (fine-tuned or only prescreened)."""
    result = record["result"]
    summary: ProposalSummary = {
        "group": record["group"],
        "channels": record["channels"],
        "keep": record["keep"],
        "estimated_cost": record["estimated_cost"],
        "finetuned": result is not None,
        "prescreen": record.get("prescreen"),
    }
    if result is None:
        return summary
    assert score is not None  # every fine-tuned proposal was scored
    return {
        **summary,
        "holdout_accuracy": result["holdout_accuracy"],
        "accuracy_drop": score.accuracy_drop,
        "drop_per_cost": score.drop_per_cost,
        "finetune_seconds": result["finetune_seconds"],
        "model": result["model"],
        "extra": result["extra"],
    }


def current_model(landed: Landed) -> CurrentModel:
    """The model the next iteration starts from."""
    return {
        "model": landed.model,
        "config": dict(landed.config),
        "cost": landed.cost,
        "holdout_accuracy": landed.holdout_accuracy,
        "measured": landed.cost_source == "measured",
    }
