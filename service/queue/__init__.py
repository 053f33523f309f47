"""The measurement job queue that device agents drain (see jobs.py and results.py)."""

from service.queue.errors import InvalidResult, JobConflict, JobNotFound, LeaseExpired, QueueError
from service.queue.jobs import (
    RequeueReport,
    claim_jobs,
    count_jobs_by_status,
    enqueue_layer_jobs,
    enqueue_model_job,
    get_job,
    heartbeat,
    release_job,
    requeue_expired,
)
from service.queue.results import RecordOutcome, ResultValues, record_result
from service.queue.signal import QueueSignal

__all__ = [
    "InvalidResult",
    "JobConflict",
    "JobNotFound",
    "LeaseExpired",
    "QueueError",
    "QueueSignal",
    "RecordOutcome",
    "RequeueReport",
    "ResultValues",
    "claim_jobs",
    "count_jobs_by_status",
    "enqueue_layer_jobs",
    "enqueue_model_job",
    "get_job",
    "heartbeat",
    "record_result",
    "release_job",
    "requeue_expired",
]
