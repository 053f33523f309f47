"""Iterations and proposals of a run, read from the engine's checkpoint (its layout:
service.netadapt.state)."""

from __future__ import annotations

from typing import Any

from service.netadapt.state import EngineState, ProposalRecord, ProposalSummary


def iteration_rows(state: EngineState | None) -> list[dict[str, Any]]:
    if not state:
        return []
    rows = []
    for iteration in state.get("iterations", []):
        index, kept = iteration["index"], iteration["kept"]
        rows.append(
            {
                "index": index,
                "kept_group": kept["group"],
                "channels": kept["channels"],
                "cost": kept["cost"],
                "holdout_accuracy": kept["holdout_accuracy"],
                "group_channels": dict(iteration["channels"]),
                "proposals": len(iteration["proposals"]),
                "target": iteration["target"],
                # Missing in iterations recorded before kept models were measured and shaved.
                "cost_source": kept.get("cost_source"),
                "predicted_cost": (iteration.get("landing") or {}).get("predicted"),
                "shaved": len((iteration.get("landing") or {}).get("shaved", [])),
                "artifacts": [f"iter_{index:03d}.keras", f"iter_{index:03d}.tflite"],
                # Missing in iterations recorded before waypoints existed.
                "waypoint": iteration.get("waypoint"),
            }
        )
    return rows


def proposal_rows(state: EngineState | None, iteration: int | None = None) -> list[dict[str, Any]]:
    """Every proposal of finished iterations, then those of the iteration in progress."""
    if not state:
        return []
    rows = []
    for record in state.get("iterations", []):
        if iteration is not None and record["index"] != iteration:
            continue
        for proposal in record["proposals"]:
            # Proposals that were only prescreened (prescreen K) have no fine-tuned result.
            rows.append(
                {
                    "iteration": record["index"],
                    "group": proposal["group"],
                    "channels": proposal["channels"],
                    "estimated_cost": proposal["estimated_cost"],
                    "holdout_accuracy": proposal.get("holdout_accuracy"),
                    "finetune_seconds": proposal.get("finetune_seconds"),
                    "kept": proposal["group"] == record["kept"]["group"],
                    "finetuned": proposal.get("finetuned", True),
                    "prescreen_accuracy": _prescreen_accuracy(proposal),
                }
            )
    pending = state.get("pending")
    if pending and (iteration is None or pending["index"] == iteration):
        chosen = pending.get("finetune_groups")
        for proposal in pending["proposals"]:
            result = proposal.get("result") or {}
            rows.append(
                {
                    "iteration": pending["index"],
                    "group": proposal["group"],
                    "channels": proposal["channels"],
                    "estimated_cost": proposal["estimated_cost"],
                    "holdout_accuracy": result.get("holdout_accuracy"),
                    "finetune_seconds": result.get("finetune_seconds"),
                    "kept": False,
                    "finetuned": chosen is None or proposal["group"] in chosen,
                    "prescreen_accuracy": _prescreen_accuracy(proposal),
                }
            )
    return rows


def _prescreen_accuracy(proposal: ProposalRecord | ProposalSummary) -> float | None:
    prescreen = proposal.get("prescreen")
    return None if prescreen is None else prescreen["holdout_accuracy"]
