"""Import TensorFlow without its start-up log lines.

TensorFlow's C++ runtime writes INFO lines to file descriptor 2 before absl logging is
initialised, whatever TF_CPP_MIN_LOG_LEVEL says; on a command line they bury the one
line that matters (progress, or an error telling the user what to change)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


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
