"""The one error an upload is refused with: an HTTP status and a message saying what to change."""

from __future__ import annotations


class UploadRejected(ValueError):
    """The upload is refused; nothing of it is stored.

    `status`: 413 (too large), 415 (not the kind of file asked for) or 422 (the right kind
    of file, with content the service refuses or cannot load).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
