"""Turning exceptions into the one-line messages that go to logs and job results."""

from __future__ import annotations

MAX_MESSAGE_CHARS = 500


def one_line(exc: BaseException | str) -> str:
    """The message on one line, bounded: it ends up in a database column and a log line."""
    text = " ".join(str(exc).split())
    if not text and isinstance(exc, BaseException):
        text = type(exc).__name__
    return text[:MAX_MESSAGE_CHARS]
