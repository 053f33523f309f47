"""The CLI's user errors: its own (CommandError) and how any user error is shown."""

from __future__ import annotations

from service.netadapt.errors import UserError
from service.netadapt.errors import user_message as _user_message


class CommandError(UserError):
    """A command-line mistake; printed as one line."""


def user_message(exc: BaseException) -> str | None:
    """The one line to print for a user's error (None: a bug, show the traceback)."""
    import httpx

    from service.tables_client import ServerUnreachable

    if isinstance(exc, httpx.TransportError):  # the run client's calls (service.client)
        exc = ServerUnreachable(exc)
    return _user_message(exc)
