"""A server run with method 'fit', in its worker process: fit the model to the budget by
whole-model measurements (service/pruning/fit_run.py) and leave what a NetAdapt run leaves:
events, baseline.keras / final.keras / final.tflite / report.json, and a checkpoint in the
engine's layout (no iterations; the fit's steps under "fit"), so the run list, GET .../report
and the dashboard read it as they read any run."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from service.pruning import run_layout as layout
from service.pruning.fit_run import FitOutcome, FitRequest, run_fit
from service.pruning.offline_run import RunInputError

STOP_REASON = "budget_met"  # a fit ends within the budget or fails


def fit_request(settings: Any, run: Any) -> FitRequest:
    """The fit a run asks for (the model from the catalog; measured on the server's own
    tables through its internal URL)."""
    from service.runs.spec import MEASURED_METRICS, RunCreate
    from service.uploads import catalog

    spec = RunCreate.model_validate(run.request)
    path = catalog.model_keras_path(settings.data_dir, spec.model_id)
    if not path.is_file():
        raise RunInputError(f"model {spec.model_id} is no longer stored; upload it again and create a new run")
    measured = spec.metric in MEASURED_METRICS
    return FitRequest(
        model_path=path,
        metric=spec.metric,
        budget=spec.budget,
        budget_kind=spec.budget_kind,
        channel_step=spec.engine.channel_step,
        saliency=spec.engine.saliency,
        server=settings.internal_url if measured else None,
        device=spec.device if measured else None,
        api_token=settings.api_token if measured else None,
    )


def fit_state(outcome: FitOutcome) -> dict[str, Any]:
    """The finished fit as an engine checkpoint with no iterations (build_report reads it)."""
    from service.netadapt import NetAdaptConfig
    from service.netadapt.state import new_state

    request, result = outcome.request, outcome.result
    config = NetAdaptConfig(budget=request.budget, budget_kind=request.budget_kind,
                            channel_step=request.channel_step, saliency=request.saliency)
    state = new_state(config, layout.BASELINE_MODEL, request.metric)
    channels = dict(result.channels)
    state.update(
        method="fit",
        baseline={"groups": dict(result.baseline_channels), "cost": result.baseline_cost,
                  "holdout_accuracy": None, "budget_cost": result.budget, "waypoint_costs": []},
        current={"model": layout.FINAL_KERAS, "config": channels, "cost": result.cost,
                 "holdout_accuracy": None, "measured": request.measured},
        stop={"reason": STOP_REASON,
              "message": f"measured {result.cost:.6g} <= budget {result.budget:.6g} after "
                         f"{len(result.steps) - 1} channel step(s)"},
        final={"model": layout.FINAL_KERAS, "test_accuracy": None, "source_model": layout.FINAL_KERAS,
               "cost": result.cost, "channels": channels},
        fit=outcome.record(),
    )
    return state


def run_fit_job(
    request: FitRequest,
    directory: Path,
    progress: Callable[[dict[str, Any]], None],
    save_state: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    """Fit, write the run's files, save the checkpoint; the report (as GET .../report)."""
    from latency_tables.atomic_files import write_bytes_atomically
    from service.costs.device_export import to_device_tflite
    from service.netadapt import build_report
    from service.training.export import save_keras

    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(request.model_path, directory / layout.BASELINE_MODEL)
    outcome = run_fit(request, progress)
    model = outcome.result.model
    save_keras(model, directory / layout.FINAL_KERAS)
    # For measured metrics, the very graph the device measured.
    tflite = outcome.measured_tflite or to_device_tflite(model)
    write_bytes_atomically(directory / layout.FINAL_TFLITE, tflite)
    state = fit_state(outcome)
    report = build_report(state)
    write_bytes_atomically(directory / layout.HISTORY_FILE, json.dumps(report, indent=2).encode())
    save_state(state)
    progress({"event": "finished", "stop_reason": STOP_REASON, "test_accuracy": None,
              "final_model": layout.FINAL_KERAS})
    return report
