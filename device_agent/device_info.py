"""What the device is: CPU model and runtime version, for the device profile."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform

LITERT_DISTRIBUTION = "ai-edge-litert"


def _cpuinfo_fields(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first value of each field in /proc/cpuinfo ({} where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """E.g. "Intel(R) Xeon(R) Processor (x86_64)" or "arm 0x41:0xd0b (aarch64)".

    x86 kernels report a "model name"; many Arm kernels do not, but name the core by
    implementer and part number (0x41:0xd0b is a Cortex-A76), which is what decides
    the kernels LiteRT picks.
    """
    machine = platform.machine() or "unknown"
    fields = _cpuinfo_fields()
    name = fields.get("model name") or fields.get("Processor") or fields.get("Hardware")
    if not name and "CPU implementer" in fields and "CPU part" in fields:
        name = f"arm {fields['CPU implementer']}:{fields['CPU part']}"
    if not name:
        name = platform.processor() or "unknown cpu"
    return f"{name} ({machine})"


@functools.lru_cache(maxsize=1)
def litert_version() -> str:
    """E.g. "ai-edge-litert 2.3.0"."""
    try:
        return f"{LITERT_DISTRIBUTION} {importlib.metadata.version(LITERT_DISTRIBUTION)}"
    except importlib.metadata.PackageNotFoundError:
        return f"{LITERT_DISTRIBUTION} unknown"


def usable_cpus() -> list[int]:
    """The CPUs this process may run on, ascending."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return list(range(os.cpu_count() or 1))
