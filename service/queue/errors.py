"""What can go wrong in the queue, in words a person (or an agent) can act on.

Plain exceptions: the HTTP layer maps them to status codes in one place (api/errors.py).
"""

from __future__ import annotations


class QueueError(Exception):
    """Base class; str(error) is the message shown to the caller."""


class JobNotFound(QueueError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id!r}; it may belong to another server or database")


class JobConflict(QueueError):
    """The job's state does not allow this call from this agent."""


class LeaseExpired(JobConflict):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"lease expired; lease the job again (job {job_id})")


class InvalidResult(QueueError):
    """A result whose values cannot be stored."""
