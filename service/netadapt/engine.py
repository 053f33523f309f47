"""The NetAdapt loop (Yang et al., ECCV 2018), resumable after every proposal.

Each iteration: pick a cost target a little below the current cost; for every channel
group, find how many channels it may keep to meet the target; build one proposal per group
(keeping its most salient channels), short-term fine-tune and evaluate each; keep the best.
Stop once the cost budget is met, then long-term fine-tune the result.

Everything the loop learns goes into one JSON-compatible state dict (layout: state.py
EngineState; its records are built in records.py), saved after every step that would be
expensive to redo; a new engine on the same store continues from there.

Progress events are small dicts with an "event" key:

    baseline_measured   cost, budget_cost, waypoint_costs, holdout_accuracy
    step_halved         iteration, step, target (no group could meet the previous target)
    iteration_started   iteration, step, target, proposals_total, proposals_done, resumed
    proposal_finished   iteration, group, holdout_accuracy, proposals_done,
                        proposals_total, best_accuracy
    proposals_prescreened iteration, proposals_total, finetune_groups (prescreen K only)
    iteration_finished  iteration, kept_group, cost, target, budget_cost, holdout_accuracy,
                        waypoint (the configured waypoint it landed on, or None), shaved
                        (channel steps taken after the kept model measured above target)
    finalizing          stop_reason, iterations
    finished            stop_reason, test_accuracy, final_model
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from service.netadapt.anchoring import (
    AnchoredEstimator,
    aim_below,
    kept_prediction_errors,
    relative_error,
)
from service.netadapt.config import NetAdaptConfig
from service.netadapt.filter_count import FilterCountChoice, choose_filter_counts
from service.netadapt.interfaces import (
    ChannelConfig,
    CheckpointStore,
    CostEstimator,
    ModelRef,
    ProposalExecutor,
    ProposalResult,
    ProposalSpec,
    PrunableNetwork,
)
from service.netadapt.records import (
    Landed,
    attempt_record,
    current_model,
    iteration_record,
    pending_iteration,
    prescreen_record,
    proposal_outcome,
    result_from_record,
    result_to_record,
    spec_from_record,
    spec_to_record,
)
from service.netadapt.saliency import choose_kept_channels
from service.netadapt.schedule import budget_cost, iteration_target, step_size, waypoint_costs
from service.netadapt.selection import choose_finetune_groups, score_proposal, select_proposal
from service.netadapt.state import (
    Anchor,
    Attempt,
    BaselineRecord,
    CurrentModel,
    EngineState,
    Landing,
    PendingIteration,
    ProposalRecord,
    StopRecord,
    build_report,
    check_resumable,
    new_state,
)

# How many times a kept model that measures above its target is shrunk by one more
# channel step (and re-measured) before the iteration accepts it as it is.
MAX_SHAVES = 3

ProgressCallback = Callable[[dict[str, Any]], None]


def shaving_can_close_gap(
    measured: float, target: float, estimate_before: float, estimate_after: float, shaves_left: int
) -> bool:
    """Whether the shaves left, each removing what the table says one channel step of the
    kept group removes, can bring a model measured above its target down to it. A group
    whose step costs next to nothing (a small dense layer) would otherwise be cut to a few
    channels chasing a gap that is the device's measurement noise; the iteration keeps the
    model as it measured and the next one aims lower (anchoring)."""
    step_share = (estimate_before - estimate_after) / estimate_before
    return step_share * shaves_left >= (measured - target) / measured


def smallest_closing_step(
    measured: float, target: float, estimate_before: float, estimates_after: Mapping[str, float]
) -> str | None:
    """The group whose one channel step removes at least the gap between a kept model
    measured above its target and the target, by the table, and the least cost of those
    that do (the smallest cut that lands it); None when no single step can. Used when the
    kept group's own steps cannot close the gap (a layer on a latency plateau): without it
    the iteration keeps a model above its target and the next iteration is spent on the
    same target."""
    gap = (measured - target) / measured
    shares = {
        group: (estimate_before - after) / estimate_before for group, after in estimates_after.items()
    }
    closing = [(share, group) for group, share in shares.items() if share >= gap]
    return min(closing)[1] if closing else None


class NetAdaptEngine:
    def __init__(
        self,
        network: PrunableNetwork,
        estimator: CostEstimator,
        executor: ProposalExecutor,
        store: CheckpointStore,
        config: NetAdaptConfig,
        baseline_model: ModelRef,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.network = network
        self.estimator = estimator
        self.executor = executor
        self.store = store
        self.config = config
        self.baseline_model = baseline_model
        self.progress = progress
        metric = getattr(estimator, "metric", "cost")
        stored = store.load()
        # Checked here rather than in run() so a wrong run dir fails before any work.
        if stored is not None:
            check_resumable(stored, config, baseline_model, metric)
        self.state: EngineState = (
            stored if stored is not None else new_state(config, baseline_model, metric)
        )

    # -- driver ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Run (or resume) to the end; return the report (state.build_report)."""
        state = self.state
        if state["final"] is None:
            self._ensure_baseline()
            while state["stop"] is None:
                self._advance()
            self._finalize()
        stop, final = state["stop"], state["final"]
        assert stop is not None and final is not None  # finalized just now, or before
        self._emit(
            "finished",
            stop_reason=stop["reason"],
            test_accuracy=final["test_accuracy"],
            final_model=final["model"],
        )
        return build_report(state)

    def _advance(self) -> None:
        """Either decide to stop, or run one iteration."""
        current = self._current()
        budget = self._baseline()["budget_cost"]
        done = len(self.state["iterations"])
        # Budget first: a run that reaches it on its last allowed iteration succeeded.
        if current["cost"] <= budget:
            self._stop(
                {
                    "reason": "budget_met",
                    "message": f"cost {current['cost']:.6g} is within the budget {budget:.6g} "
                    f"after {done} iteration(s)",
                }
            )
        elif done >= self.config.max_iterations:
            self._stop(
                {
                    "reason": "max_iterations",
                    "message": f"stopped after {done} iteration(s) at cost {current['cost']:.6g}, "
                    f"above the budget {budget:.6g}; raise max_iterations or init_reduction_ratio",
                }
            )
        else:
            self._run_iteration()

    def _stop(self, stop: StopRecord) -> None:
        self.state["stop"] = stop
        self._save()

    def _current(self) -> CurrentModel:
        current = self.state["current"]
        assert current is not None  # set with the baseline, before any iteration
        return current

    def _baseline(self) -> BaselineRecord:
        baseline = self.state["baseline"]
        assert baseline is not None  # measured before any iteration
        return baseline

    # -- baseline -------------------------------------------------------------------------

    def _ensure_baseline(self) -> None:
        if self.state["baseline"] is not None:
            return
        groups = dict(self.network.channel_groups(self.baseline_model))
        if not groups:
            raise ValueError(f"model {self.baseline_model!r} has no prunable channel groups")
        estimated = float(self.estimator.costs([groups])[0])
        measured = self.estimator.measure_model(groups, self.baseline_model)
        # Budgets and waypoints are fractions of what the device measured, when it did.
        cost = estimated if measured is None else float(measured)
        accuracy = float(self.network.evaluate_holdout(self.baseline_model))
        budget = budget_cost(cost, self.config)
        waypoints = list(waypoint_costs(cost, self.config))
        self.state["baseline"] = {
            "groups": groups,
            "cost": cost,
            "estimated_cost": estimated,
            "cost_source": "estimated" if measured is None else "measured",
            "holdout_accuracy": accuracy,
            "budget_cost": budget,
            "waypoint_costs": waypoints,
        }
        self.state["current"] = {
            "model": self.baseline_model,
            "config": dict(groups),
            "cost": cost,
            "holdout_accuracy": accuracy,
            "measured": measured is not None,
        }
        self._save()
        self._emit(
            "baseline_measured",
            cost=cost,
            budget_cost=budget,
            waypoint_costs=waypoints,
            holdout_accuracy=accuracy,
        )

    # -- one iteration --------------------------------------------------------------------

    def _run_iteration(self) -> None:
        resumed = self.state["pending"] is not None
        pending = self.state["pending"] if resumed else self._plan_iteration()
        if pending is None:
            return  # planning found nothing to propose and stopped the run
        proposals = pending["proposals"]
        self._emit(
            "iteration_started",
            iteration=pending["index"],
            step=pending["step"],
            target=pending["target"],
            proposals_total=len(proposals),
            proposals_done=_finished_count(proposals),
            resumed=resumed,
        )
        chosen = self._prescreen(pending)
        unfinished = [
            spec_from_record(p) for p in proposals if p["group"] in chosen and p["result"] is None
        ]
        if unfinished:
            self.executor.run(unfinished, lambda result: self._record_result(pending, result))
        missing = [p["group"] for p in proposals if p["group"] in chosen and p["result"] is None]
        if missing:
            raise RuntimeError(
                f"executor returned without results for iteration {pending['index']}, "
                f"group(s) {missing}"
            )
        self._keep_best(pending)

    def _prescreen(self, pending: PendingIteration) -> list[str]:
        """The groups whose proposals are fine-tuned: all of them, or with `prescreen` K the
        K whose proposals score best on the holdout without fine-tuning."""
        proposals = pending["proposals"]
        wanted = self.config.prescreen
        if not wanted or len(proposals) <= wanted:
            return [p["group"] for p in proposals]
        if pending.get("finetune_groups") is None:
            unscored = [
                replace(spec_from_record(p), stage="prescreen")
                for p in proposals
                if p.get("prescreen") is None
            ]
            if unscored:
                self.executor.run(
                    unscored, lambda result: self._record_prescreen(pending, result)
                )
            scored = [p for p in proposals if p.get("prescreen") is not None]
            if len(scored) != len(proposals):
                raise RuntimeError(
                    f"executor returned without prescreen scores for iteration "
                    f"{pending['index']}"
                )
            ranked = sorted(
                proposals,
                key=lambda p: (
                    -p["prescreen"]["holdout_accuracy"],
                    _or_inf(p["prescreen"]["holdout_loss"]),
                    p["group"],
                ),
            )
            pending["finetune_groups"] = choose_finetune_groups(
                [(p["group"], p["estimated_cost"]) for p in ranked],
                wanted,
                self._landing_floor(pending),
            )
            self._save()
            self._emit(
                "proposals_prescreened",
                iteration=pending["index"],
                proposals_total=len(proposals),
                finetune_groups=list(pending["finetune_groups"]),
            )
        return list(pending["finetune_groups"])

    def _record_prescreen(self, pending: PendingIteration, result: ProposalResult) -> None:
        proposal = self._proposal_of(pending, result)
        if proposal.get("prescreen") is None:
            proposal["prescreen"] = prescreen_record(result)
            self._save()

    def _plan_iteration(self) -> PendingIteration | None:
        """Choose target and proposals, persist them, and return the plan (None = stopped)."""
        index = len(self.state["iterations"])
        current, baseline = self._current(), self._baseline()
        initial_step = step_size(index, baseline["cost"], self.config)
        # A checkpoint from before waypoints existed has none (its config has none either).
        waypoints = baseline.get("waypoint_costs", [])
        estimator, anchor = self._pricing(current)
        choice, attempts = self._choose_counts(index, initial_step, waypoints, estimator, anchor)
        if not choice.proposable():
            self._stop(self._no_proposal_stop(index, attempts))
            return None
        proposals = self._proposals(index, choice)
        waypoint = self._aimed_waypoint(attempts[-1]["target"], waypoints)
        pending = pending_iteration(index, initial_step, attempts, proposals, waypoint, anchor)
        # Persisted before anything runs so a resumed run finishes these very proposals
        # instead of re-planning (saliency or costs could differ on a second look).
        self.state["pending"] = pending
        self._save()
        return pending

    def _choose_counts(
        self,
        index: int,
        initial_step: float,
        waypoints: list[float],
        estimator: Any,  # a CostEstimator's costs(), maybe anchored (_pricing)
        anchor: Anchor | None,
    ) -> tuple[FilterCountChoice, list[Attempt]]:
        """Filter counts that meet the iteration's target, halving the step (up to
        max_step_halvings times) while no group can meet it; and every attempt made."""
        current, budget = self._current(), self._baseline()["budget_cost"]
        errors = kept_prediction_errors(self.state["iterations"])
        step = initial_step
        attempts: list[Attempt] = []
        choice: FilterCountChoice | None = None
        for attempt in range(self.config.max_step_halvings + 1):
            if attempt > 0:
                step /= 2
            target = iteration_target(current["cost"], step, budget, waypoints)
            aim = aim_below(target, errors) if anchor is not None else target
            # Once the target is clamped to the budget or a waypoint, a smaller step gives the
            # same target and the same answer; skip re-asking a (maybe measuring, slow)
            # estimator.
            if choice is None or target != attempts[-1]["target"]:
                choice = choose_filter_counts(
                    current["config"],
                    list(current["config"]),
                    aim,
                    estimator,
                    self.config.channel_step,
                    self.config.max_group_reduction,
                )
                probes = choice.probes
            else:
                probes = 0
            attempts.append(attempt_record(step, target, aim, probes, choice.proposable()))
            if choice.proposable():
                break
            if attempt < self.config.max_step_halvings:
                self._emit("step_halved", iteration=index, step=step / 2, target=target)
        assert choice is not None
        return choice, attempts

    def _no_proposal_stop(self, index: int, attempts: list[Attempt]) -> StopRecord:
        step = self.config.channel_step
        return {
            "reason": "no_proposal_meets_target",
            "message": f"iteration {index}: no channel group can be shrunk (in steps of "
            f"{step}, never below {step}) to meet the target {attempts[-1]['target']:.6g}, "
            f"even after {self.config.max_step_halvings} step halving(s); current cost "
            f"{self._current()['cost']:.6g}, budget {self._baseline()['budget_cost']:.6g}. "
            "Lower channel_step, or accept the current cost as the budget",
            "iteration": index,
            "attempts": attempts,
        }

    def _proposals(self, index: int, choice: FilterCountChoice) -> list[ProposalRecord]:
        """One proposal per group that can meet the target, keeping its most salient
        channels."""
        current = self._current()
        scores = self.network.saliency(current["model"], self.config.saliency)
        proposals = []
        for group in choice.proposable():
            count, estimated_cost = choice.counts[group], choice.estimated_costs[group]
            assert count is not None and estimated_cost is not None  # proposable: both found
            group_scores = scores[group]
            if len(group_scores) != current["config"][group]:
                raise ValueError(
                    f"saliency of group {group!r} has {len(group_scores)} scores but the "
                    f"group has {current['config'][group]} channels"
                )
            spec = ProposalSpec(
                iteration=index,
                group=group,
                channels=count,
                keep=choose_kept_channels(group_scores, count),
                parent=current["model"],
                estimated_cost=estimated_cost,
                config={**current["config"], group: count},
            )
            proposals.append(spec_to_record(spec))
        return proposals

    def _pricing(self, current: CurrentModel) -> tuple[Any, Anchor | None]:
        """The estimator that prices this iteration's candidates, and its anchor: anchored at
        the current model's measured cost when it has one (see anchoring.py)."""
        # Checkpoints from before anchoring say so only through the kept cost's source.
        measured = current.get("measured")
        if measured is None:
            measured = bool(self.state["iterations"]) and (
                self.state["iterations"][-1]["kept"].get("cost_source") == "measured"
            )
        if not measured:
            return self.estimator, None
        anchored = AnchoredEstimator(self.estimator, current["config"], current["cost"])
        return anchored, {"cost": anchored.anchor_cost, "estimate": anchored.anchor_estimate}

    def _aimed_waypoint(self, target: float, waypoints: list[float]) -> float | None:
        """The configured waypoint (ratio or absolute, as given) whose cost is `target`."""
        # Costs were computed from config.waypoints in order, and a resumed run's config
        # equals the stored one, so the indexes match.
        if target in waypoints:
            return self.config.waypoints[waypoints.index(target)]
        return None

    def _proposal_of(self, pending: PendingIteration, result: ProposalResult) -> ProposalRecord:
        by_group = {p["group"]: p for p in pending["proposals"]}
        proposal = by_group.get(result.group)
        if result.iteration != pending["index"] or proposal is None:
            raise ValueError(
                f"executor returned a result for iteration {result.iteration}, group "
                f"{result.group!r}, which iteration {pending['index']} did not propose"
            )
        return proposal

    def _record_result(self, pending: PendingIteration, result: ProposalResult) -> None:
        proposal = self._proposal_of(pending, result)
        if proposal["result"] is not None:
            # A retried worker may deliver twice; the first result is already in the
            # checkpoint and may have been reported, so it stays.
            return
        proposal["result"] = outcome = result_to_record(result)
        self._save()
        finished = [p["result"] for p in pending["proposals"] if p["result"] is not None]
        chosen = pending.get("finetune_groups")
        self._emit(
            "proposal_finished",
            iteration=pending["index"],
            group=result.group,
            holdout_accuracy=outcome["holdout_accuracy"],
            proposals_done=len(finished),
            proposals_total=len(pending["proposals"]) if chosen is None else len(chosen),
            best_accuracy=max(r["holdout_accuracy"] for r in finished),
        )

    def _landing_floor(self, pending: PendingIteration) -> float | None:
        """The estimated cost at or above which a proposal lands near the iteration's
        target (None: the selection rule or a band of 0 ignores landing)."""
        if self.config.selection != "max_accuracy" or not self.config.landing_band:
            return None
        return pending["target"] - self.config.landing_band * self._baseline()["cost"]

    def _keep_best(self, pending: PendingIteration) -> None:
        current = self._current()
        parent_accuracy = current["holdout_accuracy"]
        assert parent_accuracy is not None  # only a fit run's (final) checkpoint has none
        finetuned = [p for p in pending["proposals"] if p["result"] is not None]
        outcomes = [proposal_outcome(p) for p in finetuned]
        kept = select_proposal(
            outcomes,
            self.config.selection,
            parent_accuracy,
            current["cost"],
            self._landing_floor(pending),
        )
        kept_record = next(p for p in finetuned if p["group"] == kept.group)
        kept_result = kept_record["result"]
        assert kept_result is not None  # it is one of the fine-tuned
        model = self.network.commit(
            spec_from_record(kept_record),
            result_from_record(kept_result, pending["index"], kept.group),
        )
        landed = self._land(pending, kept_record, model, kept.holdout_accuracy)
        scores = {o.group: score_proposal(o, parent_accuracy, current["cost"]) for o in outcomes}
        iteration = iteration_record(pending, current, scores, kept, landed)
        # One save moves the run from "iteration pending" to "iteration done" atomically.
        self.state["iterations"].append(iteration)
        self.state["current"] = current_model(landed)
        self.state["pending"] = None
        self._save()
        self._emit(
            "iteration_finished",
            iteration=pending["index"],
            kept_group=kept.group,
            cost=landed.cost,
            target=pending["target"],
            budget_cost=self._baseline()["budget_cost"],
            holdout_accuracy=landed.holdout_accuracy,
            waypoint=iteration["waypoint"],
            shaved=len(landed.landing["shaved"]) if landed.landing else 0,
        )

    def _land(
        self,
        pending: PendingIteration,
        record: ProposalRecord,
        model: ModelRef,
        holdout_accuracy: float,
    ) -> Landed:
        """Measure the kept model whole; while it measures above the iteration's target,
        take one more channel step from the kept group (lowest saliency first) and measure
        again, up to MAX_SHAVES times. Returns the model, its configuration, cost and
        holdout accuracy, and the record of what happened ("landing")."""
        config = dict(record["config"])
        group = record["group"]
        measured = self.estimator.measure_model(config, model)
        if measured is None:  # analytic metrics: the estimate is the cost
            return Landed(model, config, record["estimated_cost"], "estimated", holdout_accuracy, None)
        predicted = record["estimated_cost"]
        landing: Landing = {
            "predicted": predicted,
            "measured": float(measured),
            "prediction_error": relative_error(float(measured), predicted),
            "shaved": [],
        }
        anchor = pending.get("anchor")
        if anchor is not None:
            raw = predicted * anchor["estimate"] / anchor["cost"]
            landing["difference_predicted"] = anchor["cost"] + raw - anchor["estimate"]
        cost = float(measured)
        while cost > pending["target"] and len(landing["shaved"]) < MAX_SHAVES:
            shaves_left = MAX_SHAVES - len(landing["shaved"])
            shave, why_not = self._shave_group(config, group, cost, pending["target"], shaves_left)
            if shave is None:
                landing["shaving_stopped"] = why_not
                break
            count = config[shave] - self.config.channel_step
            scores = self.network.saliency(model, self.config.saliency)[shave]
            model, holdout_accuracy = self.network.shrink(
                model, shave, choose_kept_channels(scores, count), pending["index"]
            )
            config[shave] = count
            shaved_cost = self.estimator.measure_model(config, model)
            assert shaved_cost is not None  # the same estimator measured the kept model above
            cost = float(shaved_cost)
            landing["shaved"].append(
                {"group": shave, "channels": count, "cost": cost, "holdout_accuracy": float(holdout_accuracy)}
            )
        return Landed(model, config, cost, "measured", float(holdout_accuracy), landing)

    def _shave_group(
        self, config: ChannelConfig, kept_group: str, cost: float, target: float, shaves_left: int
    ) -> tuple[str | None, str]:
        """The group a kept model measured above its target loses its next channel step
        from: the kept group while its steps left can close the gap by the table, else the
        group whose one step closes it with the least cost removed. (None, why) when no
        step can: a gap no step closes is the device's noise, not worth a channel."""
        step = self.config.channel_step
        steps = {g: {**config, g: n - step} for g, n in config.items() if n - step >= step}
        gap = (cost - target) / cost
        why_not = f"the gap is {gap:.2%}"
        if kept_group in steps:
            before, after = self.estimator.costs([config, steps[kept_group]])
            if shaving_can_close_gap(cost, target, before, after, shaves_left):
                return kept_group, ""
            why_not = (
                f"{shaves_left} more step(s) of {kept_group} would remove "
                f"{shaves_left * (before - after) / before:.2%} by the table, " + why_not
            )
        others = sorted(g for g in steps if g != kept_group)
        if not others:
            return None, why_not
        current, *stepped = self.estimator.costs([config] + [steps[g] for g in others])
        other = smallest_closing_step(cost, target, current, dict(zip(others, stepped)))
        if other is None:
            return None, why_not + ", and no other group's one step removes it"
        return other, ""

    # -- finish ---------------------------------------------------------------------------

    def _finalize(self) -> None:
        current = self._current()
        stop = self.state["stop"]
        assert stop is not None  # the loop ends only when stopped
        self._emit("finalizing", stop_reason=stop["reason"], iterations=len(self.state["iterations"]))
        model, test_accuracy = self.network.finalize(current["model"])
        self.state["final"] = {
            "model": model,
            "test_accuracy": float(test_accuracy),
            "source_model": current["model"],
            "cost": current["cost"],
            "channels": dict(current["config"]),
        }
        self._save()

    # -- plumbing -------------------------------------------------------------------------

    def _save(self) -> None:
        self.store.save(self.state)

    def _emit(self, event: str, **fields: Any) -> None:
        if self.progress is not None:
            self.progress({"event": event, **fields})


def _finished_count(proposals: list[ProposalRecord]) -> int:
    return sum(1 for p in proposals if p["result"] is not None)


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value
