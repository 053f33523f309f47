"""Model cost from the lookup table: the sum of its layers' entries, times a calibration scale.

Why a multiplicative scale, fitted per profile and metric:

- Host latency is not additive. A one-layer model runs with its weights and activations
  hot in cache, so the sum of one-layer medians is only ~0.58x the whole model's latency
  (MobileNetV1 float32 on the reference host; ~0.73x int8; see MEASUREMENT_NOTES.md).
  The gap is roughly proportional to the model's size, so a ratio corrects most of it.
- Instruction counts are additive (sum of layers = 1.0002x under callgrind, 1.0008x
  under QEMU), so their scale comes out at ~1.0 and calibration changes nothing.

scale = median over the profile+metric's whole-model measurements of measured/raw_sum.
The median, not the mean, because host timings have slow periods (1.4-2x) that would
drag a mean. NetAdapt compares candidates against a target, so a consistent scale
matters more than absolute accuracy; the error of every estimate is kept next to each
whole-model measurement (store.ModelMeasurement) so it stays visible.

The estimator never guesses a missing entry: it reports the missing digests, and the
caller measures them (they become jobs) before trusting a number.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from latency_tables import store
from latency_tables.signature import LayerSignature


@dataclass(frozen=True)
class TableEstimate:
    """A model's estimated cost. `raw_sum`/`calibrated` are None while entries are missing."""

    raw_sum: float | None
    calibrated: float | None
    missing: list[str] = field(default_factory=list)  # digests without an entry
    scale: float = 1.0

    @property
    def complete(self) -> bool:
        return not self.missing


def calibration_scale(measurements: Iterable[tuple[float, float]]) -> float:
    """Median of measured/raw_sum over (measured, raw_sum) pairs; 1.0 with none usable.

    Pairs with a non-positive or non-finite side carry no information about the ratio
    and are skipped.
    """
    ratios = [measured / raw_sum for measured, raw_sum in measurements if _usable(measured) and _usable(raw_sum)]
    return statistics.median(ratios) if ratios else 1.0


def calibrate(raw_sum: float, measurements: Iterable[tuple[float, float]]) -> float:
    """`raw_sum` times the calibration scale of `measurements` ((measured, raw_sum) pairs)."""
    return raw_sum * calibration_scale(measurements)


def estimate(
    layer_digests: Sequence[str],
    medians: Mapping[str, float],
    measurements: Iterable[tuple[float, float]] = (),
) -> TableEstimate:
    """Estimate a model whose layers have `layer_digests` (repeats count each time).

    `medians` maps digest -> table median. Pure: no database.
    """
    scale = calibration_scale(measurements)
    missing = list(dict.fromkeys(d for d in layer_digests if d not in medians))
    if missing:
        return TableEstimate(raw_sum=None, calibrated=None, missing=missing, scale=scale)
    raw_sum = math.fsum(medians[d] for d in layer_digests)
    return TableEstimate(raw_sum=raw_sum, calibrated=raw_sum * scale, missing=[], scale=scale)


def profile_scale(session: Session, profile_id: str, metric: str) -> float:
    """The calibration scale of a profile+metric from its stored whole-model measurements."""
    return calibration_scale(store.calibration_pairs(session, profile_id, metric))


def estimate_from_store(
    session: Session, profile_id: str, metric: str, layers: Sequence[LayerSignature | str]
) -> TableEstimate:
    """`estimate` with entries and calibration read from the store.

    `layers`: the model's layers in order, as signatures or digests.
    """
    digests = [layer if isinstance(layer, str) else layer.digest for layer in layers]
    entries = store.lookup_entries(session, profile_id, metric, digests)
    medians = {digest: entry.median for digest, entry in entries.items()}
    return estimate(digests, medians, store.calibration_pairs(session, profile_id, metric))


def _usable(value: float) -> bool:
    return math.isfinite(value) and value > 0
