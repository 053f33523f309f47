"""Load an upload in a child process with a memory cap and a time limit (server side).

The server never imports TensorFlow for an upload: a model's config can ask Keras to
allocate any amount (a Dense layer of 10^5 x 10^5 units is a few bytes of JSON), and a
loader bug must not take the server down. The child (inspect_worker) caps its address
space with RLIMIT_AS; TensorFlow needs ~1.3 GiB of it with one thread per pool, so the
child gets one (MALLOC_ARENA_MAX and the thread variables keep that figure the same on
machines with many cores). Blocking: call it from a worker thread.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from service.resource_limits import mentions_out_of_memory
from service.uploads.errors import UploadRejected

log = logging.getLogger(__name__)

WORKER_MODULE = "service.uploads.inspect_worker"
WORKER_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "CUDA_VISIBLE_DEVICES": "",  # no GPU runtime inside the address-space cap
    "MALLOC_ARENA_MAX": "2",
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
_NOUNS = {"model": "model", "dataset": "dataset"}


def inspect_upload(
    kind: str,
    path: Path,
    *,
    memory_bytes: int,
    timeout_seconds: float,
    max_params: int | None = None,
) -> dict[str, Any]:
    """What inspect_worker found in the file at `path` (kind "model" or "dataset").

    Raises UploadRejected (422) when the file does not load, needs more than
    `memory_bytes`, takes longer than `timeout_seconds`, or (a model) has more than
    `max_params` parameters.
    """
    noun = _NOUNS[kind]
    result_path = path.with_name(path.name + ".result.json")
    command = [
        sys.executable, "-m", WORKER_MODULE, kind, str(path), str(result_path), "--memory-bytes", str(memory_bytes),
    ]  # fmt: skip
    if max_params is not None:
        command += ["--max-params", str(max_params)]
    try:
        finished = subprocess.run(
            command,
            env={**os.environ, **WORKER_ENVIRONMENT},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UploadRejected(
            422,
            f"loading the {noun} took longer than {timeout_seconds:g} s (NETADAPT_INSPECT_TIMEOUT_SECONDS); "
            f"upload a smaller {noun}",
        ) from None
    try:
        payload = json.loads(result_path.read_text())
    except (OSError, ValueError):
        payload = None
    finally:
        result_path.unlink(missing_ok=True)
    if payload is None:
        payload = _crash_payload(finished)
    if payload["ok"]:
        return dict(payload["result"])
    if payload["reason"] == "memory":
        raise UploadRejected(
            422,
            f"loading the {noun} needs more than the {memory_bytes:,} bytes of memory this server allows an "
            f"upload (NETADAPT_INSPECT_MEMORY_BYTES, of which TensorFlow takes ~1.3 GiB); its layers or "
            "arrays are too large",
        )
    raise UploadRejected(422, str(payload["message"]))


def _crash_payload(finished: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """The worker died without a result: out of memory (the usual cause), or else."""
    stderr = finished.stderr.decode("utf-8", "replace")
    if mentions_out_of_memory(stderr):
        return {"ok": False, "reason": "memory"}
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    log.warning("upload inspection worker exited with %s: %s", finished.returncode, "\n".join(lines[-20:]))
    last = lines[-1][:300] if lines else "no message"
    return {
        "ok": False,
        "reason": "invalid",
        "message": f"the file could not be loaded: the loader stopped with exit code {finished.returncode} ({last})",
    }

