"""One job's answer in a batch call (heartbeats, results): its value, or the QueueError
that refused it, never both, so one bad job does not fail the batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from service.queue.errors import QueueError

T = TypeVar("T")


@dataclass(frozen=True)
class JobAnswer(Generic[T]):
    job_id: str
    value: T | None = None
    error: QueueError | None = None

    def unwrap(self) -> T:
        """The value, for a call about this job alone; raises the error that refused it."""
        if self.error is not None:
            raise self.error
        assert self.value is not None
        return self.value
