"""Which exceptions are the user's to fix (printed as one line) and which are bugs."""

from __future__ import annotations


class CommandError(Exception):
    """A command-line mistake; printed as one line."""


def user_message(exc: BaseException) -> str | None:
    from service.netadapt import RunMismatchError
    from service.pruning.offline_run import RunInputError
    from service.surgery import SurgeryError
    from service.costs.measured import MeasurementFailed
    from service.settings import InsecureSettingsError
    from service.training.dataset_types import DatasetError

    import httpx

    from service.tables_client import TablesClientError

    if isinstance(exc, (RunInputError, SurgeryError, DatasetError, RunMismatchError, MeasurementFailed,
                        InsecureSettingsError, CommandError)):
        return str(exc).strip().splitlines()[0]
    if isinstance(exc, TablesClientError):
        return f"the server answered {exc.status_code}: {exc.detail}"
    if isinstance(exc, httpx.TransportError):
        where = getattr(getattr(exc, "request", None), "url", None) if _has_request(exc) else None
        return f"cannot reach the server{f' at {where}' if where else ''} ({exc}); is `netadapt serve` running there?"
    return None


def _has_request(exc: BaseException) -> bool:
    try:
        exc.request  # type: ignore[attr-defined]
    except RuntimeError:  # httpx raises when the error has no request attached
        return False
    return True
