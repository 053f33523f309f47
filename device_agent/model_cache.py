"""Where the models to measure come from: built per signature, or downloaded per hash.

Layer jobs repeat (the same signature for a retried job, or for a second metric), so
built models are kept in memory, least recently used evicted past a byte budget. Whole
models are downloaded once and kept on disk by sha256, checked on every read: a board
may run for months and its disk is not to be trusted blindly.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from device_agent.server_client import SHA256_HEX
from latency_tables import LayerSignature, build_single_op_model
from latency_tables.atomic_files import write_bytes_atomically

log = logging.getLogger(__name__)

DEFAULT_LAYER_CACHE_BYTES = 256 * 1024 * 1024


class LayerModelCache:
    """signature digest -> one-op .tflite, LRU within `max_bytes`."""

    def __init__(self, max_bytes: int = DEFAULT_LAYER_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._models: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def get(self, signature: LayerSignature) -> bytes:
        digest = signature.digest
        model = self._models.get(digest)
        if model is not None:
            self._models.move_to_end(digest)
            self.hits += 1
            return model
        self.misses += 1
        model = build_single_op_model(signature)
        self._models[digest] = model
        self._bytes += len(model)
        while self._bytes > self.max_bytes and len(self._models) > 1:
            _, evicted = self._models.popitem(last=False)
            self._bytes -= len(evicted)
        return model

    def __len__(self) -> int:
        return len(self._models)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netadapt-agent"


class BlobCache:
    """Whole-model .tflite files on disk, named by their sha256."""

    def __init__(self, directory: Path, download: Callable[[str], bytes]) -> None:
        self.directory = directory
        self.download = download

    def path(self, sha256: str) -> Path:
        if not SHA256_HEX.match(sha256):  # the name becomes a path: never trust it raw
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.directory / f"{sha256}.tflite"

    def get(self, sha256: str) -> bytes:
        path = self.path(sha256)
        try:
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() == sha256:
                return data
            path.unlink()  # corrupt or truncated: fetch again
        except FileNotFoundError:
            pass
        data = self.download(sha256)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError(f"model {sha256}: downloaded bytes have another sha256")
        try:
            write_bytes_atomically(path, data)
        except OSError as exc:  # a full or read-only disk is no reason to fail the job
            log.warning("cannot cache model %s in %s: %s", sha256, self.directory, exc)
        return data
