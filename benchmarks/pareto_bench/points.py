"""One point of the benchmark: a final model, what made it, and what it measured."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# Method names as printed; the order is the order of the table and the legend.
BASELINE = "baseline"
NETADAPT_LATENCY = "netadapt-latency"
NETADAPT_INSTR_HOST = "netadapt-instr-host"
NETADAPT_INSTR_A53 = "netadapt-instr-a53"
NETADAPT_MACS = "netadapt-macs"
UNIFORM = "uniform-width"
GLOBAL_L1 = "global-l1"
NETADAPT_METHODS = (NETADAPT_LATENCY, NETADAPT_INSTR_HOST, NETADAPT_INSTR_A53, NETADAPT_MACS)
SIMPLE_METHODS = (UNIFORM, GLOBAL_L1)
METHODS = (BASELINE, *NETADAPT_METHODS, *SIMPLE_METHODS)


def seeded(method: str, seed: int, first_seed: int) -> str:
    """A NetAdapt method's name for a run with another seed than the plan's first:
    'netadapt-latency-seed1'. The first seed's runs keep the plain name."""
    return method if seed == first_seed else f"{method}-seed{seed}"


def base_method(method: str) -> str:
    """'netadapt-latency-seed1' -> 'netadapt-latency'."""
    head, _, tail = method.rpartition("-seed")
    return head if head and tail.isdigit() else method


def is_netadapt(method: str) -> bool:
    return base_method(method) in NETADAPT_METHODS


def method_order(method: str) -> tuple[int, str]:
    return METHODS.index(base_method(method)), method


@dataclass
class Point:
    model: str  # baseline label, e.g. "vgg" or "mobilenet_v1_alpha0.5"
    method: str
    budget: float | None  # fraction of the baseline cost in budget_metric; None for the baseline
    budget_metric: str | None
    keras_path: str
    test_accuracy: float
    wall_seconds: float | None  # None when unknown (a run resumed from an earlier invocation)
    macs: int = 0
    params: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    finetune_steps: int = 0  # gradient steps that shaped the final model after pruning began
    note: str = ""
    test_images: int = 0
    test_correct: str = ""  # which test images it got right: pareto_bench.scoring.pack
    # The cost that chose it, as measured then (NetAdapt: the run's measurement of the kept
    # model; simple methods: the selection's whole-model measurement), as a fraction of
    # the baseline's cost measured the same way.
    selected_cost_share: float | None = None
    netadapt_iterations: int | None = None  # NetAdapt: kept iterations up to this model
    # Filled by the interleaved re-measurement:
    latency_ms: float | None = None
    latency_min_ms: float | None = None
    latency_max_ms: float | None = None
    latency_rounds: list[float] = field(default_factory=list)
    instructions_host: float | None = None
    instructions_a53: float | None = None

    @property
    def key(self) -> str:
        budget = "base" if self.budget is None else f"b{self.budget:g}"
        return f"{self.model}__{self.method}__{budget}"


def point_from_dict(data: dict[str, Any]) -> Point:
    """A Point from its JSON (fields added since a file was written take their defaults)."""
    names = {f.name for f in fields(Point)}
    return Point(**{k: v for k, v in data.items() if k in names})


def save_point(point: Point, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{point.key}.json"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(asdict(point), indent=2))
    partial.replace(path)
    return path


def load_point(directory: Path, key: str) -> Point | None:
    path = directory / f"{key}.json"
    if not path.is_file():
        return None
    return point_from_dict(json.loads(path.read_text()))


def points_json(points: list[Point], extra: dict[str, Any]) -> str:
    return json.dumps({**extra, "points": [asdict(p) for p in points]}, indent=2)
