"""Measurement backends, by name: the one registry of every backend the agent has.

Each entry names the backend's class and the options its constructor takes beyond the
ones every backend takes (`threads`, `cpu`); the command line offers exactly these. A
backend module is imported only when asked for: host-instructions needs valgrind,
host-latency pins the process, qemu-aarch64 needs the setup-arm tree; none of that
should happen as a side effect of another backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_agent.backends.base import Backend, CpuChoice, Measurement

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendEntry",
    "BackendOption",
    "Measurement",
    "backend_names",
    "get_backend",
]


@dataclass(frozen=True)
class BackendOption:
    """A constructor argument of one backend; on the command line `--` + name with dashes."""

    name: str
    help: str
    type: Callable[[str], Any] = str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class BackendEntry:
    target: str  # "module:class"
    summary: str
    options: tuple[BackendOption, ...] = ()

    def backend_class(self) -> type[Backend]:
        module_name, class_name = self.target.split(":")
        cls: type[Backend] = getattr(importlib.import_module(module_name), class_name)
        return cls


BACKENDS: dict[str, BackendEntry] = {
    "host-latency": BackendEntry(
        "device_agent.backends.host_latency:HostLatencyBackend",
        "LiteRT latency (ms) on this machine's pinned cores",
    ),
    "host-instructions": BackendEntry(
        "device_agent.backends.host_instructions:HostInstructionsBackend",
        "exact instruction counts on this machine, under valgrind/callgrind",
    ),
    "qemu-aarch64": BackendEntry(
        "device_agent.backends.qemu_aarch64:QemuAarch64Backend",
        "instruction counts on an emulated Arm core (--cpu cortex-a53|cortex-a76; needs setup-arm)",
        (BackendOption("arm_dir", "the setup-arm directory", Path),),
    ),
    "adb": BackendEntry(
        "device_agent.backends.adb:AdbBackend",
        "latency (ms) on an Android phone over adb, with your benchmark_model binary",
        (
            BackendOption("benchmark_model", "your benchmark_model binary for the phone", Path),
            BackendOption("serial", "the phone's serial (adb -s)"),
            BackendOption("adb", "the adb executable (default: adb on PATH)"),
        ),
    ),
}


def backend_names() -> list[str]:
    return sorted(BACKENDS)


def get_backend(
    name: str, threads: int = 1, cpu: CpuChoice = None, **options: Any
) -> Backend:
    """A ready backend (reference measured, tools found).

    `cpu` is core numbers to pin to, or for qemu-aarch64 the emulated core's name;
    `options` are the entry's own (None means the backend's default). ValueError for
    unknown names and for options the backend does not take.
    """
    try:
        entry = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(backend_names())}") from None
    own = {option.name: option for option in entry.options}
    for key, value in options.items():
        if key not in own and value is not None:
            users = [other for other, e in sorted(BACKENDS.items()) if key in {o.name for o in e.options}]
            flag = BackendOption(key, "").flag
            raise ValueError(f"{flag} is for {' and '.join(users) or 'no backend'}, not {name}")
    given = {key: value for key, value in options.items() if key in own and value is not None}
    return entry.backend_class()(threads=threads, cpu=cpu, **given)
