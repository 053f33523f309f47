"""Import TensorFlow without its start-up log lines.

TensorFlow's C++ runtime writes INFO lines to file descriptor 2 before absl logging is
initialised, whatever TF_CPP_MIN_LOG_LEVEL says; on a command line they bury the one
line that matters (progress, or an error telling the user what to change)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
import logging
from contextlib import contextmanager, redirect_stdout


@contextmanager
def stderr_silenced() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with stderr_silenced():
        import tensorflow  # noqa: F401
        import keras  # noqa: F401


@contextmanager
def converter_output_silenced() -> Iterator[None]:
    """Freezing and converting print grappler sessions, calibration settings and a
    deprecation notice for the conversion path we chose on purpose, partly straight to file
    descriptors 1 and 2 below Python's sys.stdout. Errors still arrive as exceptions."""
    absl_logger = logging.getLogger("absl")
    absl_level = absl_logger.level
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        absl_logger.setLevel(logging.ERROR)
        with stderr_silenced(), open(os.devnull, "w") as sink, redirect_stdout(sink):
            yield
    finally:
        absl_logger.setLevel(absl_level)
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
