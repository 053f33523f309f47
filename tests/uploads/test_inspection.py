"""The inspection child process: memory cap, time limit, and what a crash turns into."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from service.settings import Settings
from service.uploads.errors import UploadRejected
from service.uploads.inspection import _crash_payload, inspect_upload
from tests.uploads.builders import huge_layer_model

DEFAULT_MEMORY: int = Settings.model_fields["inspect_memory_bytes"].default


def test_a_model_that_asks_for_more_memory_than_the_cap_is_refused(tmp_path: Path) -> None:
    # 12 KB of file, 80 GB of kernel: without the cap the server would be killed (or swap).
    path = tmp_path / "upload.keras"
    path.write_bytes(huge_layer_model())
    assert path.stat().st_size < 64 * 1024
    with pytest.raises(UploadRejected) as caught:
        inspect_upload("model", path, memory_bytes=DEFAULT_MEMORY, timeout_seconds=300)
    assert caught.value.status == 422
    assert "NETADAPT_INSPECT_MEMORY_BYTES" in str(caught.value) and f"{DEFAULT_MEMORY:,}" in str(caught.value)
    assert list(tmp_path.iterdir()) == [path]  # the worker's result file is gone too


def test_a_load_past_the_time_limit_is_stopped(tmp_path: Path) -> None:
    path = tmp_path / "upload.npz"
    path.write_bytes(b"whatever")
    with pytest.raises(UploadRejected, match=r"took longer than 0.2 s \(NETADAPT_INSPECT_TIMEOUT_SECONDS\)"):
        inspect_upload("dataset", path, memory_bytes=DEFAULT_MEMORY, timeout_seconds=0.2)


def crashed(stderr: str, code: int = -6) -> dict:
    return _crash_payload(subprocess.CompletedProcess([], code, b"", stderr.encode()))


def test_a_worker_that_dies_without_a_result_is_explained() -> None:
    assert crashed("terminate called after throwing an instance of 'std::bad_alloc'")["reason"] == "memory"
    other = crashed("Fatal Python error: Segmentation fault\n\n", code=-11)
    assert other["reason"] == "invalid"
    assert "exit code -11 (Fatal Python error: Segmentation fault)" in other["message"]
