"""A deterministic stand-in for a Keras network, cost model and executor.

Model refs encode the channel configuration ("it3-b:a=32,b=40,c=16"), so the stub network
needs no storage: any ref can be turned back into the channel counts it describes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from service.netadapt import (
    MemoryStore,
    NetAdaptConfig,
    NetAdaptEngine,
    ProposalResult,
    ProposalSpec,
    SerialExecutor,
)

GROUPS = {"a": 32, "b": 64, "c": 16}
# Accuracy lost when a group is pruned away entirely; quadratic in the pruned fraction, so
# the cheapest group to prune changes as the run goes on.
SENSITIVITY = {"a": 0.4, "b": 0.2, "c": 0.35}
BASE_ACCURACY = 0.9


def encode(config: Mapping[str, int]) -> str:
    return ",".join(f"{group}={count}" for group, count in sorted(config.items()))


def decode(ref: str) -> dict[str, int]:
    body = ref.rsplit(":", 1)[-1]
    return {group: int(count) for group, count in (item.split("=") for item in body.split(","))}


def baseline_ref(groups: Mapping[str, int] = GROUPS) -> str:
    return "base:" + encode(groups)


def linear_cost(weights: Mapping[str, float]) -> Callable[[Mapping[str, int]], float]:
    return lambda config: float(sum(weights[g] * n for g, n in config.items()))


def chain_macs(config: Mapping[str, int]) -> float:
    """MACs of a 3 -> a -> b -> c -> 10 chain of 1x1 convolutions on an 8x8 map."""
    a, b, c = config["a"], config["b"], config["c"]
    return float(64 * (3 * a + a * b + b * c + c * 10))


class StubNetwork:
    def __init__(
        self,
        baseline: Mapping[str, int] = GROUPS,
        sensitivity: Mapping[str, float] = SENSITIVITY,
    ) -> None:
        self.baseline = dict(baseline)
        self.sensitivity = dict(sensitivity)
        self.saliency_calls: list[tuple[str, str]] = []
        self.finalize_calls: list[str] = []
        self.evaluate_calls: list[str] = []
        self.commit_calls: list[tuple[int, str]] = []

    def accuracy(self, config: Mapping[str, int]) -> float:
        drop = sum(
            self.sensitivity[g] * (1 - config[g] / self.baseline[g]) ** 2 for g in self.baseline
        )
        return BASE_ACCURACY - drop

    def channel_groups(self, model: str) -> dict[str, int]:
        return decode(model)

    def saliency(self, model: str, method: str) -> dict[str, Sequence[float]]:
        self.saliency_calls.append((model, method))
        # Scores repeat with period 7, so ties happen and must be broken by index.
        return {g: [float((i * 5) % 7) for i in range(n)] for g, n in decode(model).items()}

    def evaluate_holdout(self, model: str) -> float:
        self.evaluate_calls.append(model)
        return self.accuracy(decode(model))

    def commit(self, spec: ProposalSpec, result: ProposalResult) -> str:
        self.commit_calls.append((spec.iteration, spec.group))
        return result.model

    def shrink(self, model: str, group: str, keep: Sequence[int], iteration: int) -> tuple[str, float]:
        config = decode(model)
        assert len(set(keep)) == len(keep) and max(keep) < config[group]
        config[group] = len(keep)
        return f"it{iteration}-shrunk:" + encode(config), self.accuracy(config)

    def finalize(self, model: str) -> tuple[str, float]:
        self.finalize_calls.append(model)
        return "final:" + encode(decode(model)), self.accuracy(decode(model)) + 0.01

    def run_one(self, spec: ProposalSpec) -> ProposalResult:
        """What a short-term fine-tune of `spec` would produce."""
        assert len(spec.keep) == spec.channels
        if spec.stage == "prescreen":  # scored without fine-tuning: less accurate, no model
            return ProposalResult(
                iteration=spec.iteration,
                group=spec.group,
                model="",
                holdout_accuracy=self.accuracy(spec.config) - 0.05,
                finetune_seconds=0.0,
            )
        return ProposalResult(
            iteration=spec.iteration,
            group=spec.group,
            model=f"it{spec.iteration}-{spec.group}:" + encode(spec.config),
            holdout_accuracy=self.accuracy(spec.config),
            finetune_seconds=float(spec.channels) / 8,
        )


class StubEstimator:
    def __init__(
        self,
        cost: Callable[[Mapping[str, int]], float],
        metric: str = "macs",
        measured_scale: float | None = None,
        device: Callable[[Mapping[str, int]], float] | None = None,
    ) -> None:
        self.cost = cost
        self.metric = metric
        self.measured_scale = measured_scale
        # What a whole-model measurement returns, when it differs from the table's sum by
        # more than a scale (None: cost x measured_scale, or nothing measured).
        self.device = device
        self.batches: list[list[dict[str, int]]] = []
        self.observed: list[tuple[dict[str, int], str]] = []

    @property
    def probes(self) -> int:
        return sum(len(batch) for batch in self.batches)

    def costs(self, configs: Sequence[Mapping[str, int]]) -> list[float]:
        self.batches.append([dict(c) for c in configs])
        return [self.cost(c) for c in configs]

    def missing(self, configs: Sequence[Mapping[str, int]]) -> list[Any]:
        return []

    def measure_model(self, config: Mapping[str, int], model: str) -> float | None:
        self.observed.append((dict(config), model))
        if self.device is not None:
            return self.device(config)
        if self.measured_scale is None:
            return None
        return self.cost(config) * self.measured_scale


class CountingRunner:
    """Wraps run_one and counts fine-tunes per (iteration, group), across engines."""

    def __init__(self, run_one: Callable[[ProposalSpec], ProposalResult]) -> None:
        self.run_one = run_one
        self.calls: Counter[tuple[int, str]] = Counter()  # fine-tunes
        self.stages: Counter[str] = Counter({"finetune": 0, "prescreen": 0})

    def __call__(self, spec: ProposalSpec) -> ProposalResult:
        self.stages[spec.stage] += 1
        if spec.stage == "finetune":
            self.calls[(spec.iteration, spec.group)] += 1
        return self.run_one(spec)


class StubRun:
    """Everything one NetAdapt run needs, wired to stubs; engines share the store and the
    fine-tune counter so that killed and resumed engines can be compared."""

    def __init__(
        self,
        config: NetAdaptConfig,
        cost: Callable[[Mapping[str, int]], float],
        groups: Mapping[str, int] = GROUPS,
        sensitivity: Mapping[str, float] = SENSITIVITY,
        measured_scale: float | None = None,
        store: Any = None,
        device: Callable[[Mapping[str, int]], float] | None = None,
    ) -> None:
        self.config = config
        self.network = StubNetwork(groups, sensitivity)
        self.estimator = StubEstimator(cost, measured_scale=measured_scale, device=device)
        self.runner = CountingRunner(self.network.run_one)
        self.store = store if store is not None else MemoryStore()
        self.baseline = baseline_ref(groups)
        self.events: list[dict[str, Any]] = []

    def engine(
        self, *, network=None, estimator=None, executor=None, store=None, config=None
    ) -> NetAdaptEngine:
        return NetAdaptEngine(
            network or self.network,
            estimator or self.estimator,
            executor or SerialExecutor(self.runner),
            store or self.store,
            config or self.config,
            self.baseline,
            self.events.append,
        )

    def run(self) -> dict[str, Any]:
        return self.engine().run()
