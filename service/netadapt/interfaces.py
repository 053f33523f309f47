"""The seams between the pure NetAdapt loop and the world around it.

The engine never sees TensorFlow, HTTP or a database. It talks to:

* a :class:`PrunableNetwork` (channel groups, saliency, final long-term fine-tune),
* a :class:`CostEstimator` (channel configuration -> cost, and what is still unmeasured),
* a :class:`ProposalExecutor` (build + short-term fine-tune + evaluate, maybe in parallel),
* a :class:`CheckpointStore` (where the run's state is persisted after every proposal).

Models are referred to by opaque string references (file paths for the Keras side), so
that they can cross process boundaries as files, never as pickled objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # state.py imports this module
    from service.netadapt.state import EngineState

# group id -> number of output channels the group currently has
ChannelConfig = Mapping[str, int]
ModelRef = str


@dataclass(frozen=True)
class ProposalSpec:
    """One candidate of one iteration: shrink `group` of `parent` to `keep` channels."""

    iteration: int
    group: str
    channels: int  # how many channels the group keeps
    keep: tuple[int, ...]  # indices (into the parent's channels of `group`) that stay
    parent: ModelRef
    estimated_cost: float
    config: dict[str, int]  # the whole channel configuration after this proposal
    # "finetune": short-term fine-tune, then evaluate (a candidate to keep);
    # "prescreen": evaluate without fine-tuning (only ranks which proposals to fine-tune).
    stage: str = "finetune"


@dataclass(frozen=True)
class ProposalResult:
    """What running a proposal produced. `model` is the fine-tuned candidate's reference."""

    iteration: int
    group: str
    model: ModelRef
    holdout_accuracy: float
    finetune_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


class PrunableNetwork(Protocol):
    """The network being adapted, seen only through its coupled channel groups."""

    def channel_groups(self, model: ModelRef) -> dict[str, int]:
        """Prunable group id -> current channel count of `model`."""
        ...

    def saliency(self, model: ModelRef, method: str) -> dict[str, Sequence[float]]:
        """Per prunable group, one importance score per channel of `model` (higher = keep)."""
        ...

    def evaluate_holdout(self, model: ModelRef) -> float:
        """Holdout accuracy of `model` (used once, for the baseline)."""
        ...

    def shrink(
        self, model: ModelRef, group: str, keep: Sequence[int], iteration: int
    ) -> tuple[ModelRef, float]:
        """`model` with `group` cut to the channel indices `keep`, without fine-tuning, saved
        as iteration `iteration`'s model; returns it and its holdout accuracy. Used when a
        kept model measures above its target."""
        ...

    def commit(self, spec: ProposalSpec, result: ProposalResult) -> ModelRef:
        """The kept proposal as a model of its own (proposals may be stored as weights for
        their parent; this builds the physically pruned model). Called once per iteration,
        and again if the run was interrupted before the iteration was saved: must give
        the same model for the same arguments."""
        ...

    def finalize(self, model: ModelRef) -> tuple[ModelRef, float]:
        """Long-term fine-tune `model`; return the result and its test-split accuracy."""
        ...


class CostEstimator(Protocol):
    """Channel configuration -> cost (analytic, or a calibrated sum of measured entries)."""

    metric: str

    def costs(self, configs: Sequence[ChannelConfig]) -> list[float]:
        """Cost of every configuration. May block until missing measurements arrive."""
        ...

    def missing(self, configs: Sequence[ChannelConfig]) -> list[Any]:
        """Measurements that `costs(configs)` would still have to wait for."""
        ...

    def measure_model(self, config: ChannelConfig, model: ModelRef) -> float | None:
        """Measure `model` (whose channels are `config`) whole on the device, and let the
        measurement update the calibration. Called for the baseline and for every kept
        model. Returns the measured cost, or None when there is nothing to measure (analytic
        metrics, where the estimate is exact)."""
        ...


class ProposalExecutor(Protocol):
    """Runs proposals (build, short-term fine-tune, evaluate on holdout)."""

    def run(
        self,
        specs: Sequence[ProposalSpec],
        on_result: Callable[[ProposalResult], None],
    ) -> None:
        """Run every spec; call `on_result` (in the caller's thread) as each finishes.

        Raising from `on_result` must stop the executor promptly."""
        ...


class CheckpointStore(Protocol):
    """Persistence of the engine's state (a JSON-compatible dict)."""

    def load(self) -> EngineState | None: ...

    def save(self, state: Mapping[str, Any]) -> None: ...
