"""The interface every measurement backend implements, and what it returns."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from latency_tables.protocol import METRICS, DeviceDescription, JobResult


@dataclass(frozen=True)
class Measurement:
    """One model's cost in the backend's metric, or why it could not be measured.

    `median` and `spread` are in the metric's unit (ms or instructions); `spread` is
    relative (IQR / median for timings, 0 for exact counts). `n` is how many samples the
    median is over. A failure sets `error` and leaves the numbers None, so one bad model
    in a batch does not cost the others their results.
    """

    median: float | None = None
    spread: float | None = None
    n: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def failed(cls, error: str, **details: Any) -> "Measurement":
        return cls(error=error, details=dict(details))

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def value(self) -> float:
        """The median of a measurement that succeeded; ValueError for a failed one."""
        if self.median is None:
            raise ValueError(f"no value: {self.error or 'not measured'}")
        return self.median

    def to_job_result(self) -> JobResult:
        if self.error is not None:
            return JobResult(error=self.error, details=self.details)
        return JobResult(median=self.median, spread=self.spread, n=self.n, details=self.details)


CpuChoice = str | int | Iterable[int] | None  # core numbers to pin to, or an emulated core's name


def core_numbers(backend: str, cpu: CpuChoice) -> list[int] | None:
    """`cpu` as core numbers (None: the backend picks); ValueError for a core name."""
    if cpu is None:
        return None
    if isinstance(cpu, str):
        raise ValueError(f"--cpu {cpu}: {backend} takes core numbers (e.g. 3 or 2,3); core names are for qemu-aarch64")
    return [cpu] if isinstance(cpu, int) else list(cpu)


class Backend(abc.ABC):
    """A way of measuring .tflite models on this device.

    Subclasses set `name` and `metric` and implement the constructor and three methods.
    Every constructor takes `threads` and `cpu`, then the keyword options its entry in
    `device_agent.backends.BACKENDS` declares. A backend is created once per agent and
    reused for every batch; expensive one-time work (a reference measurement, finding a
    symbol) belongs in the constructor.
    """

    name: str
    metric: str  # one of latency_tables.protocol.METRICS

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        metric = getattr(cls, "metric", None)
        if metric is not None and metric not in METRICS:
            raise TypeError(f"{cls.__name__}.metric {metric!r} is not one of {METRICS}")

    @abc.abstractmethod
    def __init__(self, threads: int = 1, cpu: CpuChoice = None) -> None:
        """Find the tools, pin, measure the reference; raise saying what is missing."""

    @abc.abstractmethod
    def describe(self) -> DeviceDescription:
        """The device profile this backend's numbers belong to (the lookup-table key)."""

    @abc.abstractmethod
    def measure_many(self, models: list[bytes]) -> list[Measurement]:
        """Measure each model; one Measurement per model, in order.

        Batches are the unit of work because some backends pay a large fixed cost per
        call (valgrind: ~7-10 s of Python start-up per process).
        """

    @abc.abstractmethod
    def self_test(self) -> str:
        """Measure the reference layer and return a human-readable report.

        Raises if the backend cannot measure on this device.
        """

    def measure(self, model: bytes) -> Measurement:
        return self.measure_many([model])[0]
