"""Analytic cost metrics (MACs, parameters) behind the engine's estimator interface."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from service.surgery import ChannelGraph, count_macs, count_params

ANALYTIC_METRICS = ("macs", "params")


class AnalyticEstimator:
    """Exact MAC or parameter counts of a channel configuration of the baseline graph."""

    def __init__(self, graph: ChannelGraph, metric: str) -> None:
        if metric not in ANALYTIC_METRICS:
            raise ValueError(f"unknown analytic metric '{metric}'; use one of {', '.join(ANALYTIC_METRICS)}")
        self.graph = graph
        self.metric = metric
        self._count = count_macs if metric == "macs" else count_params

    def costs(self, configs: Sequence[Mapping[str, int]]) -> list[float]:
        return [float(self._count(self.graph, dict(c))) for c in configs]

    def missing(self, configs: Sequence[Mapping[str, int]]) -> list[Any]:
        return []  # nothing to measure

    def measure_model(self, config: Mapping[str, int], model: str) -> float | None:
        return None
