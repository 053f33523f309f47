"""One measuring process for a whole batch of models (callgrind, qemu-aarch64).

Starting the tool and the Python inside it costs seconds; each model costs about one.
Both counting backends write the batch into a folder, run one process over it with a
timeout that grows with the batch, and read per-model results back from files.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from device_agent.backends.base import Measurement
from device_agent.text import one_line

STDERR_TAIL_CHARS = 400


def write_models(model_dir: Path, models: Sequence[bytes]) -> list[str]:
    """The models as 00000.tflite, 00001.tflite, ... in `model_dir` (created); their names."""
    model_dir.mkdir()
    names = [f"{i:05d}.tflite" for i in range(len(models))]
    for name, model in zip(names, models):
        (model_dir / name).write_bytes(model)
    return names


def run_batch_process(
    command: list[str],
    tool: str,
    timeout: float,
    env: Mapping[str, str],
    cwd: Path | None = None,
) -> tuple[str | None, float]:
    """Run `command`; (why it failed or None, seconds it took). A failed process still
    leaves whatever per-model results it wrote before failing."""
    started = time.monotonic()
    try:
        process = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=dict(env), cwd=cwd
        )
        failure = None if process.returncode == 0 else f"{tool} exited with {process.returncode}: {stderr_tail(process.stderr)}"
    except subprocess.TimeoutExpired:
        failure = f"{tool} timed out"
    return failure, time.monotonic() - started


def stderr_tail(text: str) -> str:
    """The end of a tool's stderr on one line, without the delegate's start-up notice."""
    lines = [line for line in text.splitlines() if "XNNPACK delegate" not in line]
    return one_line("\n".join(lines))[-STDERR_TAIL_CHARS:]


def usable_entry(entry: dict | None, failure: str | None, runner: str, batch: dict[str, Any]) -> dict | Measurement:
    """A model's result entry when it holds counts, else its failed measurement: the
    runner skipped the model (`failure`: why the process ended early) or reported an error."""
    if entry is None:
        return Measurement.failed(failure or f"the {runner} runner skipped this model", **batch)
    if "error" in entry:
        return Measurement.failed(entry["error"], **batch)
    return entry


def counted(counts: Sequence[int], **details: Any) -> Measurement:
    """A model's exact counts, one per invoke: the first (cold) invoke is kept in the
    details; the steady ones give the median and the spread (range / median)."""
    steady = list(counts[1:])
    median = statistics.median(steady)
    return Measurement(
        median=float(median),
        spread=float((max(steady) - min(steady)) / median) if median else 0.0,
        n=len(steady),
        details={"first_invoke": counts[0], "steady_invokes": steady, **details},
    )
