"""What fit-to-budget prices a whole model with: exact analytic counts, or a measurement
of the model on a device through the lookup-table server (a model job for its agents)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.costs.measured import MeasurementFailed, TablesBackend
from service.pruning.analytic_cost import ANALYTIC_METRICS
from service.pruning.offline_run import MEASURED_METRICS, RunInputError

FIT_METRICS = ANALYTIC_METRICS + MEASURED_METRICS


def analytic_measure(metric: str) -> Callable[[Any], float]:
    """MACs or parameters of a Keras model, counted on its own channel graph."""
    from service.surgery import analyze, count_macs, count_params

    if metric not in ANALYTIC_METRICS:
        raise RunInputError(f"'{metric}' is not an analytic metric; use one of {', '.join(ANALYTIC_METRICS)}")
    count = count_macs if metric == "macs" else count_params
    return lambda model: float(count(analyze(model)))


class DeviceMeasure:
    """A Keras model, converted as the device runs it (service.costs.device_export), measured
    whole by an agent of `profile_id`: one model job per call, its median returned."""

    def __init__(
        self,
        tables: TablesBackend,
        profile_id: str,
        metric: str,
        *,
        wait_timeout: float = 3600.0,
        on_submit: Callable[[str], None] | None = None,
    ) -> None:
        self.tables = tables
        self.profile_id = profile_id
        self.metric = metric
        self.wait_timeout = wait_timeout
        self.on_submit = on_submit  # called with each job id (progress: "waiting for the device")
        self.jobs: list[str] = []
        # The .tflite measured last: the fitted model's, when the fit ends (its artifact is
        # the graph that was measured).
        self.last_tflite: bytes | None = None

    def __call__(self, model: Any) -> float:
        from service.costs.device_export import to_device_tflite

        self.last_tflite = to_device_tflite(model)
        # No table estimate goes with it: a fit prices nothing by the table.
        job_id = self.tables.submit_model(self.profile_id, self.metric, self.last_tflite, None, None)
        self.jobs.append(job_id)
        if self.on_submit is not None:
            self.on_submit(job_id)
        status = self.tables.wait_for_jobs([job_id], self.wait_timeout)[job_id]
        if status.get("status") != "done":
            raise MeasurementFailed(
                f"measuring the model on profile {self.profile_id} failed (job {job_id}): "
                f"{status.get('failure_reason') or status.get('status')}"
            )
        return float(status["result"]["median"])

    def close(self) -> None:
        close = getattr(self.tables, "close", None)
        if close is not None:
            close()


def open_device_measure(server: str, api_token: str, profile_id: str, metric: str,
                        **kwargs: Any) -> DeviceMeasure:
    """A DeviceMeasure on `server`'s profile, checked first: the profile exists and its
    agents measure `metric` (else RunInputError saying what to pass)."""
    import httpx

    from service.tables_client import TablesClient, TablesClientError

    client = TablesClient(server, api_token)
    try:
        profile = client.profile(profile_id)
    except TablesClientError as exc:
        client.close()
        raise RunInputError(f"device profile '{profile_id}' on {server}: {exc}") from exc
    except httpx.HTTPError as exc:
        client.close()
        raise RunInputError(f"cannot reach the server at {server}: {exc}") from exc
    if profile.get("metric") != metric:
        client.close()
        raise RunInputError(
            f"device profile '{profile_id}' measures {profile.get('metric')}, not {metric}; pick a "
            "profile of an agent with a matching backend"
        )
    return DeviceMeasure(client, profile_id, metric, **kwargs)
