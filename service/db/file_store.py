"""Whole-model .tflite files, stored by content hash under data_dir/blobs.

Files, not database rows: models reach tens of megabytes and agents download them
with a plain GET. Content addressing makes uploads idempotent and lets agents cache by
hash.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from latency_tables.atomic_files import write_bytes_atomically

SHA256_PATTERN = r"^[0-9a-f]{64}$"
_SHA256 = re.compile(SHA256_PATTERN)
# A TFLite flatbuffer carries its file identifier at bytes 4..8.
_TFLITE_IDENTIFIER = b"TFL3"


class NotATfliteFile(ValueError):
    pass


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_tflite(data: bytes) -> None:
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise NotATfliteFile("the body is not a .tflite file (no 'TFL3' flatbuffer identifier at byte 4)")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a lowercase sha256 hex digest: {sha256!r}")
        # Two-level fan-out keeps directories small.
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Store `data` (idempotent); its sha256."""
        digest = sha256_hex(data)
        target = self.path(digest)
        if target.is_file():
            return digest
        # Write then rename: a reader never sees a half-written model.
        write_bytes_atomically(target, data)
        return digest
