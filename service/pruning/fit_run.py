"""A fit-to-budget as users ask for it (`netadapt fit`, a REST run with method 'fit'):
load the .keras file, price it whole, turn a budget ratio into a cost, fit.

Every input is checked before anything is measured, so bad input fails fast with a
message that says what to change (RunInputError)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.pruning.fit_budget import FIT_SALIENCY, FitResult, FitStep, fit_to_budget
from service.pruning.fit_measures import FIT_METRICS, analytic_measure, open_device_measure
from service.pruning.offline_run import MEASURED_METRICS, RunInputError, load_keras_file

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class FitRequest:
    model_path: Path
    metric: str
    budget: float
    budget_kind: str = "ratio"  # 'ratio' of the input model's measured cost, or 'absolute'
    channel_step: int = 8
    saliency: str = "l1"
    server: str | None = None  # lookup-table server, for measured metrics
    device: str | None = None  # device profile id on that server
    api_token: str | None = None

    @property
    def measured(self) -> bool:
        return self.metric in MEASURED_METRICS

    def settings(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "device": self.device,
            "budget": self.budget,
            "budget_kind": self.budget_kind,
            "channel_step": self.channel_step,
            "saliency": self.saliency,
        }


@dataclass
class FitOutcome:
    request: FitRequest
    result: FitResult
    # The fitted model as the device ran it (measured metrics), else None.
    measured_tflite: bytes | None

    def record(self) -> dict[str, Any]:
        """What `netadapt fit` writes next to the model and a fit run reports."""
        return {"method": "fit", **self.request.settings(), **self.result.record()}


def check_fit_request(request: FitRequest) -> Any:
    """The request's budget settings as a NetAdaptConfig (whose checks the budget shares
    with `netadapt prune`); RunInputError for anything to change."""
    from service.netadapt import NetAdaptConfig

    if request.metric not in FIT_METRICS:
        raise RunInputError(f"unknown metric '{request.metric}'; use one of {', '.join(FIT_METRICS)}")
    if request.measured and not (request.server and request.device):
        raise RunInputError(
            f"metric '{request.metric}' is measured on a device: pass --server URL and "
            "--device PROFILE_ID (see `netadapt serve` and `netadapt-agent`)"
        )
    if request.saliency not in FIT_SALIENCY:
        raise RunInputError(
            f"saliency '{request.saliency}' needs data; a fit ranks channels by their weights: use "
            f"{' or '.join(FIT_SALIENCY)}"
        )
    try:
        return NetAdaptConfig(
            budget=request.budget,
            budget_kind=request.budget_kind,
            channel_step=request.channel_step,
            saliency=request.saliency,
        )
    except ValueError as exc:
        raise RunInputError(str(exc)) from exc


def run_fit(request: FitRequest, progress: Progress | None = None) -> FitOutcome:
    """Fit the request's model; progress sees `baseline_measured`, one `fit_step` per
    channel step and, for measured metrics, `waiting_for_measurements` per model job."""
    from service.netadapt import budget_cost
    from service.surgery import SurgeryError, analyze

    config = check_fit_request(request)
    model = load_keras_file(request.model_path)
    try:
        graph = analyze(model)
    except SurgeryError as exc:
        raise RunInputError(str(exc)) from exc
    if not graph.prunable_groups:
        raise RunInputError(f"model '{model.name}' has no prunable layers")

    def emit(event: str, **fields: Any) -> None:
        if progress is not None:
            progress({"event": event, **fields})

    device = None
    if request.measured:
        device = open_device_measure(
            request.server or "", request.api_token or "", request.device or "", request.metric,
            on_submit=lambda job: emit("waiting_for_measurements", jobs=1, kind="model", job=job),
        )
        measure = device
    else:
        measure = analytic_measure(request.metric)
    try:
        baseline = float(measure(model))
        budget = budget_cost(baseline, config)
        emit("baseline_measured", cost=baseline, budget_cost=budget, holdout_accuracy=None,
             groups=graph.channel_config())

        def on_step(step: FitStep) -> None:
            if step.group is not None:  # step 0 is the baseline, reported above
                emit("fit_step", step=step.step, group=step.group, channels_before=step.channels_before,
                     channels=step.channels, cost=step.cost, budget_cost=budget,
                     saliency=step.saliency)

        result = fit_to_budget(
            model, budget, measure, saliency=request.saliency, channel_step=request.channel_step,
            metric=request.metric, baseline_cost=baseline, on_step=on_step,
        )
    finally:
        if device is not None:
            device.close()
    return FitOutcome(request, result, device.last_tflite if device is not None else None)
