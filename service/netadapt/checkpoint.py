"""Where the engine's state lives between proposals."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from service.netadapt.state import EngineState


class JsonFileStore:
    """State as one JSON file, replaced atomically so a crash leaves the old or the new
    state, never a torn one."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> EngineState | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return json.loads(text)

    def save(self, state: Mapping[str, Any]) -> None:
        # Serialise first: a state that is not plain JSON must fail before touching disk.
        # allow_nan=False because NaN/Infinity are not JSON and other readers reject them.
        text = json.dumps(state, indent=1, allow_nan=False)
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        # The temp file must be in the same directory: os.replace is only atomic within
        # one filesystem.
        fd, temp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _fsync_directory(directory)


class MemoryStore:
    """In-memory store for tests. Keeps a JSON copy, so it also proves the state is JSON."""

    def __init__(self) -> None:
        self._text: str | None = None
        self.saves = 0

    def load(self) -> EngineState | None:
        return None if self._text is None else json.loads(self._text)

    def save(self, state: Mapping[str, Any]) -> None:
        self._text = json.dumps(state, allow_nan=False)
        self.saves += 1


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable. Not possible on every platform (e.g. Windows), where
    # the file contents are still safe.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
