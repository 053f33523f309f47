"""Model cost as a calibrated sum of measured lookup-table entries.

For a channel configuration, the estimator derives the TFLite layer signatures of the
pruned model (without building it), looks them up in the device profile's table, and
sums them. Missing entries become measurement jobs for the device's agents; the call
blocks until they are measured (a proposal waits for its entries). After each
iteration the kept model is measured whole on the device, which both reports its true
cost and recalibrates the sum (a lone layer runs with its weights hot in cache, so host
latency is not exactly additive; instruction counts are, to ~0.3% once the per-invoke
overhead is counted once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from latency_tables.estimator import overhead_signature, table_sum
from latency_tables.signature import LayerSignature
from service.netadapt.errors import UserError


class MeasurementFailed(UserError, RuntimeError):
    """A device agent could not measure what a run needs; the message says what."""


class TablesBackend(Protocol):
    """What the estimator needs from the lookup-table service (HTTP client or in-process)."""

    def lookup(self, profile_id: str, metric: str, signatures: Sequence[LayerSignature]) -> dict[str, Any]:
        """{"entries": {digest: {"median": ...}}, "missing": [digest], "jobs": {digest: job_id},
        "scale": float}; enqueues jobs for the missing entries."""
        ...

    def submit_model(self, profile_id: str, metric: str, tflite: bytes, raw_sum: float | None,
                     estimated: float | None, *, dtype: str = "float32") -> str:
        ...

    def wait_for_jobs(self, job_ids: Sequence[str], timeout: float) -> dict[str, dict[str, Any]]:
        """job id -> {"status": "done"|"failed", "result": {...}, "failure_reason": ...}"""
        ...


SignatureFn = Callable[[Mapping[str, int]], list[LayerSignature]]


@dataclass(eq=False)
class MeasuredEstimator:
    """The engine's CostEstimator for `latency_ms` / `instructions` on one device profile.

    `dtype`: the precision `signatures_for` and `export_tflite` produce models in (the
    per-invoke overhead entry and the whole-model measurements are of that dtype)."""

    signatures_for: SignatureFn
    tables: TablesBackend
    profile_id: str
    metric: str
    export_tflite: Callable[[str], bytes]
    wait_timeout: float = 3600.0
    progress: Callable[[dict[str, Any]], None] | None = None
    dtype: str = "float32"

    def __post_init__(self) -> None:
        self.scale = 1.0
        self._entries: dict[str, float] = {}  # digest -> median, cached for the run
        # Each one-op model pays the interpreter's fixed per-invoke cost once; a whole model
        # pays it once in all. The table's entry for a near-empty op measures that cost,
        # which is counted once per model instead of once per op.
        self._overhead = overhead_signature(self.dtype)
        self.entries_requested = 0  # distinct entries this run asked the table for
        self.jobs_waited = 0

    # -- CostEstimator ---------------------------------------------------------------

    def costs(self, configs: Sequence[Mapping[str, int]]) -> list[float]:
        self._ensure_entries(configs)
        return [self._raw(c) * self.scale for c in configs]

    def missing(self, configs: Sequence[Mapping[str, int]]) -> list[Any]:
        wanted = {s.digest for c in configs for s in self._signatures(c)}
        return sorted(wanted - set(self._entries))

    def measure_model(self, config: Mapping[str, int], model: str) -> float | None:
        return self.measure_whole(config, model)

    # -- whole-model measurement and calibration -------------------------------------

    def raw_sum(self, config: Mapping[str, int]) -> float:
        self._ensure_entries([config])
        return self._raw(config)

    def _raw(self, config: Mapping[str, int]) -> float:
        """Sum of the layers' entries with the per-invoke overhead counted once."""
        medians = [self._entries[s.digest] for s in self._signatures(config)]
        return max(0.0, table_sum(medians, self._entries[self._overhead.digest]))

    def measure_whole(self, config: Mapping[str, int], model: str) -> float:
        """Measure `model` whole on the device; update the calibration scale."""
        raw = self.raw_sum(config)
        estimated = raw * self.scale
        job_id = self.tables.submit_model(
            self.profile_id, self.metric, self.export_tflite(model), raw, estimated, dtype=self.dtype
        )
        self._emit("waiting_for_measurements", jobs=1, kind="model")
        result = self._wait([job_id])[job_id]
        measured = float(result["result"]["median"])
        if raw > 0:
            # The service computes the scale over all of this profile's whole-model
            # measurements; ask again so every run shares one calibration.
            reply = self.tables.lookup(self.profile_id, self.metric, [])
            self.scale = float(reply.get("scale", measured / raw))
        return measured

    # -- plumbing ---------------------------------------------------------------------

    def _signatures(self, config: Mapping[str, int]) -> list[LayerSignature]:
        return self.signatures_for(config)

    def _ensure_entries(self, configs: Sequence[Mapping[str, int]]) -> None:
        wanted: dict[str, LayerSignature] = {}
        if self._overhead.digest not in self._entries:
            wanted[self._overhead.digest] = self._overhead
        for config in configs:
            for sig in self._signatures(config):
                if sig.digest not in self._entries:
                    wanted.setdefault(sig.digest, sig)
        if not wanted:
            return
        self.entries_requested += len(wanted)
        reply = self.tables.lookup(self.profile_id, self.metric, list(wanted.values()))
        self._absorb(reply)
        jobs = reply.get("jobs", {})
        if jobs:
            self._emit("waiting_for_measurements", jobs=len(jobs), kind="layer")
            self.jobs_waited += len(jobs)
            self._wait(list(jobs.values()))
            self._absorb(self.tables.lookup(self.profile_id, self.metric, list(wanted.values())))
        still = [d for d in wanted if d not in self._entries]
        if still:
            raise MeasurementFailed(
                f"{len(still)} layer measurements are still missing after their jobs finished "
                f"(e.g. {wanted[still[0]].op} {wanted[still[0]].inputs}); check the agents"
            )

    def _absorb(self, reply: dict[str, Any]) -> None:
        for digest, entry in reply.get("entries", {}).items():
            self._entries[digest] = float(entry["median"])
        if "scale" in reply:
            self.scale = float(reply["scale"])

    def _wait(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        results = self.tables.wait_for_jobs(job_ids, self.wait_timeout)
        failed = {j: r for j, r in results.items() if r.get("status") != "done"}
        if failed:
            job, info = next(iter(failed.items()))
            raise MeasurementFailed(
                f"{len(failed)} measurement job(s) failed on profile {self.profile_id}, e.g. job "
                f"{job}: {info.get('failure_reason') or info.get('status')}"
            )
        return results

    def _emit(self, event: str, **fields: Any) -> None:
        if self.progress is not None:
            self.progress({"event": event, **fields})
