"""Request and response bodies. Agent-facing shapes mirror latency_tables/protocol.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from latency_tables.protocol import JOB_KINDS, METRICS, DeviceDescription
from service.api.params import MAX_STORED_INT

Metric = Literal[METRICS]  # type: ignore[valid-type]
JobKind = Literal[JOB_KINDS]  # type: ignore[valid-type]
FiniteNonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]

# ---- agents ------------------------------------------------------------------------


class DeviceIn(BaseModel):
    backend: str = Field(min_length=1, max_length=64)
    cpu_model: str = Field(min_length=1, max_length=256)
    runtime_version: str = Field(min_length=1, max_length=128)
    threads: int = Field(1, ge=1, le=1024)
    delegate: str = Field("xnnpack", min_length=1, max_length=64)
    metric: Metric = "latency_ms"

    def description(self) -> DeviceDescription:
        return DeviceDescription(**self.model_dump())


class RegistrationIn(BaseModel):
    token: str
    name: str = Field(min_length=1, max_length=128)
    device: DeviceIn


class RegistrationOut(BaseModel):
    agent_id: str
    secret: str
    profile_id: str
    lease_seconds: float
    heartbeat_seconds: float


# The most jobs one lease hands out, and one batch report carries.
MAX_JOBS_PER_REQUEST = 256


class LeaseIn(BaseModel):
    wait_seconds: float = Field(0.0, ge=0, allow_inf_nan=False)  # capped by the server's long_poll_seconds
    max_jobs: int = Field(1, ge=1, le=MAX_JOBS_PER_REQUEST)


class JobOut(BaseModel):
    """protocol.Job"""

    id: str
    kind: JobKind
    metric: Metric
    lease_expires_at: str
    attempt: int
    signature: dict[str, Any] | None = None
    model_sha256: str | None = None
    dtype: str = "float32"


class LeaseOut(BaseModel):
    jobs: list[JobOut] = []


class HeartbeatOut(BaseModel):
    lease_expires_at: str


class HeartbeatsIn(BaseModel):
    """protocol.Heartbeats: the jobs of a batch being measured."""

    job_ids: list[str] = Field(min_length=1, max_length=MAX_JOBS_PER_REQUEST)


class JobHeartbeatOut(BaseModel):
    job_id: str
    lease_expires_at: str | None  # the lease's new end; None when refused
    error: JobRefused | None = None  # 404 unknown job, 409 the lease is no longer this agent's: drop it


class HeartbeatsOut(BaseModel):
    jobs: list[JobHeartbeatOut]  # one per job id, in order


class ResultIn(BaseModel):
    """protocol.JobResult: numbers, or `error` when the job cannot be measured."""

    median: FiniteNonNegative | None = None
    spread: FiniteNonNegative | None = None
    n: int | None = Field(None, ge=1, le=MAX_STORED_INT, description="how many samples the median is of")
    error: str | None = Field(None, min_length=1, max_length=4000)
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _numbers_or_error(self) -> Self:
        if self.error is None and (self.median is None or self.n is None):
            missing = [name for name in ("median", "n") if getattr(self, name) is None]
            raise ValueError(f"missing {' and '.join(missing)}: a result needs 'median' and 'n', or 'error'")
        return self


class ResultOut(BaseModel):
    job_id: str
    status: str
    accepted: bool  # this result is now the job's result
    conflict: bool  # the job already had a different result; this one was dropped


class JobResultIn(ResultIn):
    """One result of a batch report: protocol.JobReport."""

    job_id: str = Field(min_length=1, max_length=64)


class NextLeaseIn(BaseModel):
    """protocol.ResultsReport's `lease`: jobs to claim once the results are recorded (no
    long poll)."""

    max_jobs: int = Field(1, ge=1, le=MAX_JOBS_PER_REQUEST)


class ResultsIn(BaseModel):
    """protocol.ResultsReport: the results of (usually) one lease, and optionally the
    next lease in the same request."""

    results: list[JobResultIn] = Field(min_length=1, max_length=MAX_JOBS_PER_REQUEST)
    lease: NextLeaseIn | None = None


class JobRefused(BaseModel):
    """Why one job of a batch request was refused."""

    status: int  # what the one-job request would have answered: 404, 409 or 422
    detail: str


class ReportedResultOut(BaseModel):
    job_id: str
    status: str | None  # the job's status; None when the report was refused
    accepted: bool
    conflict: bool
    error: JobRefused | None = None  # why this result was not recorded; drop it


class ResultsOut(BaseModel):
    results: list[ReportedResultOut]  # one per reported result, in order
    jobs: list[JobOut] = []  # leased by the report's `lease` (empty without one)


class ReleaseOut(BaseModel):
    job_id: str
    status: str
    released: bool


# ---- blobs ---------------------------------------------------------------------------


class BlobOut(BaseModel):
    sha256: str
    size: int


# ---- tables --------------------------------------------------------------------------


class ProfileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    key: str
    backend: str
    cpu_model: str
    runtime_version: str
    threads: int
    delegate: str
    metric: str
    created_at: datetime


class AgentOut(BaseModel):
    id: str
    name: str
    registered_at: datetime
    last_heartbeat_at: datetime | None
    online: bool
    jobs_done: int
    jobs_failed: int


class ProfileDetailOut(ProfileOut):
    entries: int
    measurements: int
    scale: float
    jobs: dict[str, int]  # status -> count
    agents: list[AgentOut]


class EntryOut(BaseModel):
    metric: str
    signature_digest: str
    signature: dict[str, Any]
    median: float
    spread: float
    n: int
    agent_id: str | None
    measured_at: datetime


class MeasurementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    metric: str
    model_sha256: str
    measured: float
    spread: float
    n: int
    estimated: float | None
    raw_sum: float | None
    relative_error: float | None  # estimated / measured - 1
    agent_id: str | None
    measured_at: datetime


# ---- costs (run / estimator side) ----------------------------------------------------


class LookupIn(BaseModel):
    metric: Metric
    signatures: list[dict[str, Any]] = Field(max_length=100_000)


class EntryValues(BaseModel):
    median: float
    spread: float
    n: int


class LookupOut(BaseModel):
    entries: dict[str, EntryValues]  # digest -> measured values
    missing: list[str]  # digests without an entry (each has a job)
    jobs: dict[str, str]  # digest -> job id measuring it
    scale: float  # calibration: model cost = sum of entries x scale
    # The profile's fitted calibration (latency_tables.calibration.Calibration.to_dict()):
    # Calibration(**calibration).predict(model_features(...), family) estimates a model.
    calibration: dict[str, Any] | None = None


class ModelJobOut(BaseModel):
    job_id: str
    model_sha256: str
    status: str


class JobResultOut(BaseModel):
    median: float | None
    spread: float | None
    n: int | None
    error: str | None
    details: dict[str, Any]
    agent_id: str | None


class JobStatusOut(BaseModel):
    id: str
    kind: str
    profile_id: str
    metric: str
    status: str
    attempts: int
    max_attempts: int
    signature_digest: str | None
    model_sha256: str | None
    leased_by: str | None
    lease_expires_at: datetime | None
    failure_reason: str | None
    result: JobResultOut | None
    created_at: datetime
    finished_at: datetime | None
