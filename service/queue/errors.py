"""What can go wrong in the queue, in words a person (or an agent) can act on.

User errors whose `http_status` the HTTP layer answers with (api/errors.py).
"""

from __future__ import annotations

from service.netadapt.errors import UserError


class QueueError(UserError):
    """Base class; str(error) is the message shown to the caller."""

    http_status = 400


class JobNotFound(QueueError):
    http_status = 404

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}; it may belong to another server or database")


class JobConflict(QueueError):
    """The job's state does not allow this call from this agent."""

    http_status = 409


class LeaseExpired(JobConflict):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"lease expired; lease the job again (job {job_id})")


class InvalidResult(QueueError):
    """A result whose values cannot be stored."""

    http_status = 422
