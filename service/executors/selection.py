"""Which executor runs a run's proposals: local worker processes (the default) or Ray.

The choice, in order: an explicit kind (`--executor`); else NETADAPT_EXECUTOR (the
server's Settings.executor); else "ray" when a Ray address is known (the explicit one,
NETADAPT_RAY_ADDRESS = Settings.ray_address, or Ray's own RAY_ADDRESS); else "local".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class ExecutorChoice:
    kind: str  # one of EXECUTORS
    ray_address: str | None = None  # None with kind "ray": a private local Ray instance


def choose_executor(kind: str | None = None, ray_address: str | None = None) -> ExecutorChoice:
    address = ray_address or os.environ.get("NETADAPT_RAY_ADDRESS") or os.environ.get("RAY_ADDRESS") or None
    kind = kind or os.environ.get("NETADAPT_EXECUTOR") or ("ray" if address else "local")
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor '{kind}'; use one of {', '.join(EXECUTORS)}")
    return ExecutorChoice(kind, address if kind == "ray" else None)


def make_executor(
    choice: ExecutorChoice,
    run_one: Callable[..., Any],
    context: Any,
    *,
    workers: int,
    threads: int,
    initializer: Callable[..., None] | None = None,
) -> Any:
    """The executor for `choice` (a context manager); `initializer(threads)` runs once per
    worker process before its first proposal."""
    initargs = (threads,) if initializer is not None else ()
    if choice.kind == "ray":
        from service.executors.ray_executor import RayExecutor

        return RayExecutor(
            run_one,
            context,
            address=choice.ray_address,
            workers=workers,
            threads=threads,
            initializer=initializer,
            initargs=initargs,
        )
    from service.executors.local import LocalProcessExecutor

    return LocalProcessExecutor(run_one, context, workers=workers, initializer=initializer, initargs=initargs)
