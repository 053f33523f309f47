"""Which exceptions are the user's to fix (printed as one line) and which are bugs."""

from __future__ import annotations


def user_message(exc: BaseException) -> str | None:
    from service.netadapt import RunMismatchError
    from service.pruning.offline_run import RunInputError
    from service.surgery import SurgeryError
    from service.training.dataset_types import DatasetError

    if isinstance(exc, (RunInputError, SurgeryError, DatasetError, RunMismatchError)):
        return str(exc).strip().splitlines()[0]
    if isinstance(exc, ValueError) and getattr(exc, "user_facing", False):
        return str(exc)
    return None
