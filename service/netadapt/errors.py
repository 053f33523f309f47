"""The base class of every error meant for the user, whichever package raises it.

An error is a UserError when the person who asked can fix it (a file, an option, a
dataset, a device that cannot measure); its message says what to change. The CLI prints
its first line, the API answers a problem document with `http_status` and the message,
a run records the message. Anything else is a bug: a traceback for the log.

It lives in the pure core because every service package may import service.netadapt,
and service.netadapt may import nothing but the standard library.
"""

from __future__ import annotations

from typing import ClassVar


class UserError(Exception):
    """An error the user can fix; str(error) says what to change."""

    http_status: ClassVar[int] = 422  # the API's status for it; subclasses say 404, 409, ...


def user_message(exc: BaseException) -> str | None:
    """The one line shown for a user's error; None for anything else (a bug)."""
    if not isinstance(exc, UserError):
        return None
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
