"""Where models come from: built once per signature, downloaded once per hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from device_agent.model_cache import BlobCache, LayerModelCache
from tests.device_agent.layers import conv, model


def test_layer_models_are_built_once_per_signature() -> None:
    cache = LayerModelCache()
    first = cache.get(conv(8))
    assert cache.get(conv(8)) is first and cache.get(conv(16)) is not first
    assert (cache.hits, cache.misses, len(cache)) == (1, 2, 2)


def test_layer_cache_evicts_least_recently_used_past_its_budget() -> None:
    one = len(model(conv(8)))
    cache = LayerModelCache(max_bytes=one + 1)
    cache.get(conv(8))
    cache.get(conv(8, out_channels=4))  # smaller: fits only after the first goes
    assert len(cache) == 1


class Downloads:
    """Counts the downloads BlobCache makes (a real function serving real bytes)."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs
        self.calls: list[str] = []

    def __call__(self, sha256: str) -> bytes:
        self.calls.append(sha256)
        return self.blobs[sha256]


def test_blobs_are_downloaded_once_and_checked_on_every_read(tmp_path: Path) -> None:
    data = model(conv(8))
    sha = hashlib.sha256(data).hexdigest()
    downloads = Downloads({sha: data})
    cache = BlobCache(tmp_path / "blobs", downloads)
    assert cache.get(sha) == data and cache.get(sha) == data
    assert downloads.calls == [sha]

    cache.path(sha).write_bytes(data[:100])  # truncated on disk: fetched again
    assert cache.get(sha) == data
    assert downloads.calls == [sha, sha]


def test_blob_names_must_be_sha256_and_match_the_bytes(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path, Downloads({"a" * 64: b"other bytes"}))
    with pytest.raises(ValueError, match="sha256"):
        cache.get("../../etc/passwd")
    with pytest.raises(ValueError, match="another sha256"):
        cache.get("a" * 64)
    assert not any(tmp_path.iterdir())
