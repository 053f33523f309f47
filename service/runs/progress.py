"""Engine progress events -> the run's event log and its summary columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.db.session import Database
from service.runs import repository

# The share of the progress bar the iterations fill; the long-term fine-tune the rest.
_ITERATIONS_SHARE = 0.9


def cost_progress(baseline: float | None, current: float | None, budget: float | None) -> float:
    """How far the cost has come from the baseline towards the budget, 0..1."""
    if baseline is None or current is None or budget is None or baseline <= budget:
        return 0.0
    return min(1.0, max(0.0, (baseline - current) / (baseline - budget)))


class RunProgressRecorder:
    """Called with every engine event (in the worker process): appends it to the log and
    updates the columns the run list shows. `on_iteration` runs after an iteration's
    model is kept (the worker exports its .tflite there)."""

    def __init__(
        self,
        database: Database,
        run_id: str,
        on_iteration: Callable[[int], None] | None = None,
    ) -> None:
        self.database = database
        self.run_id = run_id
        self.on_iteration = on_iteration
        self._baseline: float | None = None
        self._budget: float | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        data = {k: v for k, v in event.items() if k != "event"}
        with self.database.session() as session:
            if self._baseline is None:
                # A resumed run: its baseline was measured by an earlier worker.
                run = repository.get_run(session, self.run_id)
                if run is None:
                    return
                self._baseline, self._budget = run.baseline_cost, run.budget_cost
            repository.record_progress(session, self.run_id, kind, data, **self._columns(kind, data))
        if kind == "iteration_finished" and self.on_iteration is not None:
            self.on_iteration(int(event["iteration"]))

    def _columns(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        if kind == "baseline_measured":
            self._baseline, self._budget = data["cost"], data["budget_cost"]
            return {
                "phase": "iterating",
                "baseline_cost": data["cost"],
                "budget_cost": data["budget_cost"],
                "current_cost": data["cost"],
                "baseline_accuracy": data["holdout_accuracy"],
                "current_accuracy": data["holdout_accuracy"],
            }
        if kind == "iteration_started":
            return {"phase": "iterating"}
        if kind == "waiting_for_measurements":
            return {"phase": "measuring"}
        if kind == "proposal_finished":
            return {"phase": "iterating"}
        if kind == "iteration_finished":
            share = cost_progress(self._baseline, data["cost"], self._budget)
            return {
                "iterations_done": data["iteration"] + 1,
                "current_cost": data["cost"],
                "current_accuracy": data["holdout_accuracy"],
                "progress": round(_ITERATIONS_SHARE * share, 4),
            }
        if kind == "fit_step":  # a fit run: each channel step is measured whole
            share = cost_progress(self._baseline, data["cost"], self._budget)
            return {"phase": "measuring", "current_cost": data["cost"], "progress": round(share, 4)}
        if kind == "finalizing":
            return {"phase": "finalizing", "stop_reason": data.get("stop_reason"), "progress": _ITERATIONS_SHARE}
        if kind == "finished":
            return {"test_accuracy": data.get("test_accuracy"), "stop_reason": data.get("stop_reason")}
        return {}
