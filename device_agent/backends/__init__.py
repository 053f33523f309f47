"""Measurement backends, by name.

Each backend module is imported only when asked for: host-instructions needs valgrind,
host-latency pins the process; neither should happen as a side effect of the other.
"""

from __future__ import annotations

import importlib
from typing import Iterable

from device_agent.backends.base import Backend, Measurement

__all__ = ["BACKENDS", "Backend", "Measurement", "backend_names", "get_backend"]

# name -> "module:class"
BACKENDS: dict[str, str] = {
    "host-latency": "device_agent.backends.host_latency:HostLatencyBackend",
    "host-instructions": "device_agent.backends.host_instructions:HostInstructionsBackend",
}


def backend_names() -> list[str]:
    return sorted(BACKENDS)


def get_backend(name: str, threads: int = 1, cpu: int | Iterable[int] | None = None) -> Backend:
    """A ready backend (reference measured, tools found). ValueError for unknown names."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(backend_names())}") from None
    module_name, class_name = target.split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class(threads=threads, cpu=cpu)
