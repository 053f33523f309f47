"""Write files so that readers see either the old content or the complete new one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_target(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; once the block succeeds, move it onto `path`.

    The temporary file lives in the same directory because os.replace is only atomic
    within one filesystem. It keeps `path`'s suffix, since writers such as Keras pick the
    format from it. On failure the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent
    )
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, path)
    finally:
        temporary_path.unlink(missing_ok=True)


def write_bytes_atomically(path: str | Path, content: bytes) -> Path:
    """Write `content` to `path` atomically and durably; return `path`."""
    path = Path(path)
    with atomic_target(path) as temporary, open(temporary, "wb") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())
    return path
