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

    if isinstance(exc, (RunInputError, SurgeryError, DatasetError, RunMismatchError, MeasurementFailed,
                        InsecureSettingsError, CommandError)):
        return str(exc).strip().splitlines()[0]
    return None
