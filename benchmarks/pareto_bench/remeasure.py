"""Every final model measured whole, side by side, in one session.

Latency: the host-latency backend (the agent's own code: LiteRT, XNNPACK, one pinned
thread, preempted invokes dropped, rounds normalised by a reference layer) in this
process, models interleaved A B C ... A B C ... for `rounds` passes, so a slow period of
the shared machine hits every model alike. Each pass gives one median per model; the
point's latency is the median over passes and its spread the min..max over passes.

Instructions are exact counts (callgrind on this host; QEMU's plugin on the emulated
Cortex-A53), so one batch per backend is enough.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

from pareto_bench.points import Point

Log = Callable[[str], None]


def interleaved_latency(models: Sequence[bytes], rounds: int, log: Log) -> list[list[float]]:
    """Per model, its median latency (ms) in each pass."""
    from device_agent.backends import get_backend

    backend = get_backend("host-latency", threads=1)
    per_model: list[list[float]] = [[] for _ in models]
    for index in range(rounds):
        started = time.perf_counter()
        for position, model in enumerate(models):
            result = backend.measure(model)
            if not result.ok:
                raise RuntimeError(f"host-latency could not time model {position}: {result.error}")
            per_model[position].append(float(result.median))
        log(f"  latency pass {index + 1}/{rounds}: {len(models)} models in "
            f"{time.perf_counter() - started:.0f} s")
    return per_model


def counted_instructions(models: Sequence[bytes], backend: object, label: str, log: Log) -> list[float]:
    started = time.perf_counter()
    results = backend.measure_many(list(models))
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{label}: {len(failed)} models could not be counted, e.g. {failed[0]}")
    log(f"  {label}: {len(models)} models in {time.perf_counter() - started:.0f} s")
    return [float(r.median) for r in results]


def remeasure(points: list[Point], tflite_paths: list[Path], *, rounds: int, arm_dir: Path | None,
              log: Log) -> None:
    """Fill every point's latency and instruction fields (in place)."""
    from device_agent.backends import get_backend

    models = [path.read_bytes() for path in tflite_paths]
    log(f"re-measuring {len(models)} models whole: host latency x {rounds} interleaved passes, "
        "then instruction counts")
    for point, samples in zip(points, interleaved_latency(models, rounds, log)):
        point.latency_rounds = samples
        point.latency_ms = statistics.median(samples)
        point.latency_min_ms, point.latency_max_ms = min(samples), max(samples)
    host = counted_instructions(models, get_backend("host-instructions"), "host instructions (callgrind)", log)
    for point, count in zip(points, host):
        point.instructions_host = count
    if arm_dir is not None:
        from device_agent.backends.qemu_aarch64 import QemuAarch64Backend

        a53 = counted_instructions(models, QemuAarch64Backend(cpu="cortex-a53", arm_dir=arm_dir),
                                   "Cortex-A53 instructions (qemu)", log)
        for point, count in zip(points, a53):
            point.instructions_a53 = count
