"""The measurement job queue that device agents drain (see jobs.py and results.py)."""

from service.queue.errors import InvalidResult, JobConflict, JobNotFound, LeaseExpired, QueueError
from service.queue.jobs import (
    Heartbeat,
    Lease,
    RequeueReport,
    claim_jobs,
    count_jobs_by_status,
    enqueue_layer_jobs,
    enqueue_model_job,
    get_job,
    heartbeat,
    heartbeat_jobs,
    lease_jobs,
    release_job,
    requeue_expired,
)
from service.queue.results import (
    NextLease,
    RecordOutcome,
    ReportOutcome,
    ResultValues,
    record_result,
    record_results,
    record_results_and_lease,
)
from service.queue.signal import QueueSignal

__all__ = [
    "InvalidResult",
    "Heartbeat",
    "JobConflict",
    "JobNotFound",
    "Lease",
    "LeaseExpired",
    "NextLease",
    "QueueError",
    "QueueSignal",
    "RecordOutcome",
    "ReportOutcome",
    "RequeueReport",
    "ResultValues",
    "claim_jobs",
    "count_jobs_by_status",
    "enqueue_layer_jobs",
    "enqueue_model_job",
    "get_job",
    "heartbeat",
    "heartbeat_jobs",
    "lease_jobs",
    "record_result",
    "record_results",
    "record_results_and_lease",
    "release_job",
    "requeue_expired",
]
