"""The agent <-> server contract: paths, and the JSON bodies both sides exchange.

Plain dataclasses (no pydantic) because agents run on boards with only numpy, LiteRT
and httpx. The server validates the same shapes with its own schemas.

Flow (every call but register carries ``Authorization: Bearer <agent secret>``):

1. ``POST /v1/agents/register``   body :class:`Registration` (with the shared agent
   token) -> :class:`RegistrationReply` (agent id + per-agent secret + profile id).
   Registering again with the same name and profile returns the same agent id and a
   new secret (an agent that lost its secret can come back).
2. ``POST /v1/agents/{agent_id}/lease`` body ``{"wait_seconds": S, "max_jobs": N}``
   -> 200 :class:`LeaseReply` with 0..N jobs. The server holds the request up to S
   seconds while the queue is empty (long poll). A leased job belongs to this agent
   until ``lease_expires_at``.
3. ``POST /v1/jobs/{job_id}/heartbeat`` -> ``{"lease_expires_at": ...}``; extends the
   lease while measuring. 409 if the lease is no longer this agent's.
   ``POST /v1/agents/{agent_id}/heartbeat`` body ``{"job_ids": [...]}`` -> 200
   ``{"jobs": [{"job_id", "lease_expires_at", "error"}]}``: a batch's leases in one
   request; a job whose lease is no longer this agent's carries ``error``.
4. ``PUT /v1/jobs/{job_id}/result`` body :class:`JobResult` -> 200. Idempotent: the
   same result again changes nothing; a late result from an agent whose lease expired
   is accepted only if the job is not done yet.
   ``POST /v1/agents/{agent_id}/results`` body :class:`ResultsReport` -> 200
   ``{"results": [...]}``: the results of a lease in one request, one transaction,
   each by the same rules; a result the server refuses (unknown job, not this agent's)
   carries ``error: {"status", "detail"}`` and the others are recorded all the same.
   With ``"lease": {"max_jobs": N}`` the same request then leases up to N more jobs
   (as a lease with ``wait_seconds`` 0) and returns them in ``"jobs"``: an agent
   that keeps working needs one request per batch. Retrying such a report after a
   lost reply records nothing twice but leases again; the jobs of the lost reply
   come back to the queue when their lease expires, as after a lost lease reply.
5. ``POST /v1/jobs/{job_id}/release`` -> 200: give the job back (agent shutting down).
6. ``GET /v1/blobs/{sha256}`` -> the bytes of a whole-model ``.tflite`` (model jobs).

Jobs of kind ``layer`` carry a signature; the agent builds the one-layer model itself.
Jobs of kind ``model`` carry ``model_sha256``; the agent downloads it once and caches
it by hash.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

API_PREFIX = "/v1"
METRICS = ("latency_ms", "instructions")
JOB_KINDS = ("layer", "model")


def register_path() -> str:
    return f"{API_PREFIX}/agents/register"


def lease_path(agent_id: str) -> str:
    return f"{API_PREFIX}/agents/{agent_id}/lease"


def heartbeat_path(job_id: str) -> str:
    return f"{API_PREFIX}/jobs/{job_id}/heartbeat"


def result_path(job_id: str) -> str:
    return f"{API_PREFIX}/jobs/{job_id}/result"


def heartbeats_path(agent_id: str) -> str:
    return f"{API_PREFIX}/agents/{agent_id}/heartbeat"


def results_path(agent_id: str) -> str:
    return f"{API_PREFIX}/agents/{agent_id}/results"


def release_path(job_id: str) -> str:
    return f"{API_PREFIX}/jobs/{job_id}/release"


def blob_path(sha256: str) -> str:
    return f"{API_PREFIX}/blobs/{sha256}"


@dataclass(frozen=True)
class DeviceDescription:
    """What makes two devices' measurements interchangeable: the profile key."""

    backend: str  # host-latency | host-instructions | qemu-aarch64 | adb
    cpu_model: str  # e.g. "Intel Xeon ... (x86_64)" or "cortex-a53"
    runtime_version: str  # e.g. "ai-edge-litert 2.3.0"
    threads: int = 1
    delegate: str = "xnnpack"
    metric: str = "latency_ms"  # what this backend measures

    def profile_key(self) -> str:
        return "|".join(
            [self.backend, self.cpu_model, self.runtime_version, f"t{self.threads}", self.delegate, self.metric]
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Registration:
    token: str
    name: str
    device: DeviceDescription

    def to_dict(self) -> dict[str, Any]:
        return {"token": self.token, "name": self.name, "device": self.device.to_dict()}


@dataclass(frozen=True)
class RegistrationReply:
    agent_id: str
    secret: str
    profile_id: str
    lease_seconds: float
    heartbeat_seconds: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RegistrationReply":
        return cls(
            agent_id=str(data["agent_id"]),
            secret=str(data["secret"]),
            profile_id=str(data["profile_id"]),
            lease_seconds=float(data["lease_seconds"]),
            heartbeat_seconds=float(data["heartbeat_seconds"]),
        )


@dataclass(frozen=True)
class Job:
    id: str
    kind: str  # "layer" | "model"
    metric: str
    lease_expires_at: str  # ISO 8601, UTC
    attempt: int
    signature: dict[str, Any] | None = None  # LayerSignature.to_dict() for layer jobs
    model_sha256: str | None = None  # for model jobs
    dtype: str = "float32"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Job":
        return cls(
            id=str(data["id"]),
            kind=str(data["kind"]),
            metric=str(data["metric"]),
            lease_expires_at=str(data["lease_expires_at"]),
            attempt=int(data["attempt"]),
            signature=data.get("signature"),
            model_sha256=data.get("model_sha256"),
            dtype=str(data.get("dtype", "float32")),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LeaseReply:
    jobs: list[Job] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LeaseReply":
        return cls([Job.from_dict(j) for j in data.get("jobs", [])])


@dataclass(frozen=True)
class JobResult:
    """A measurement (median/spread/n in the job's metric unit) or a failure."""

    median: float | None = None
    spread: float | None = None  # e.g. interquartile range / median (relative); 0 for exact counts
    n: int | None = None
    error: str | None = None  # set instead of the numbers when the job cannot be measured
    details: dict[str, Any] = field(default_factory=dict)  # backend extras (reference ratio, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ResultsReport:
    """Several jobs' results in one request: {job id: result}; with `lease_max_jobs`, the
    next lease in the same request."""

    results: dict[str, JobResult]
    lease_max_jobs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "results": [{"job_id": job_id, **result.to_dict()} for job_id, result in self.results.items()]
        }
        if self.lease_max_jobs is not None:
            body["lease"] = {"max_jobs": self.lease_max_jobs}
        return body


@dataclass(frozen=True)
class ReportReply:
    """The server's answer for one result of a ResultsReport."""

    job_id: str
    accepted: bool
    conflict: bool
    status: str | None = None  # the job's status; None when refused
    refused_status: int | None = None  # 404 / 409 / 422 when the server refused this result
    refused_detail: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReportReply":
        error = data.get("error") or {}
        return cls(
            job_id=str(data["job_id"]),
            accepted=bool(data.get("accepted")),
            conflict=bool(data.get("conflict")),
            status=data.get("status"),
            refused_status=int(error["status"]) if error else None,
            refused_detail=str(error["detail"]) if error else None,
        )
