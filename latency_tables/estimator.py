"""Model cost from the lookup table: the sum of its layers' entries, times a calibration scale.

Why a multiplicative scale, fitted per profile and metric:

- Host latency is not additive. A one-layer model runs with its weights and activations
  hot in cache, so the sum of one-layer medians is only ~0.58x the whole model's latency
  (MobileNetV1 float32 on the reference host; ~0.73x int8; see MEASUREMENT_NOTES.md).
  The gap is roughly proportional to the model's size, so a ratio corrects most of it.
  Not everywhere: on the 32x32 zoo models and pruned variants (benchmarks/
  lut_accuracy.py) the median ratio was ~1.0 but single models ranged 0.70-1.6x, so
  a calibrated latency estimate was off by ~12% (median) there.
- Instruction counts are additive (sum of layers = 1.0002x under callgrind, 1.0008x
  under QEMU), so their scale comes out at ~1.0 and calibration changes nothing.

scale = median over the profile+metric's whole-model measurements of measured/raw_sum.
The median, not the mean, because host timings have slow periods (1.4-2x) that would
drag a mean. NetAdapt compares candidates against a target, so a consistent scale
matters more than absolute accuracy; the error of every estimate is kept next to each
whole-model measurement (store.ModelMeasurement) so it stays visible.

Per-invoke overhead (opt-in, `per_op_overhead`): every one-op model pays the fixed cost
of one invoke (interpreter, delegate node, runtime set-up), so the entries of an N-op
model include N of those while the whole model pays one. Measured with callgrind on 24
zoo models and pruned variants (benchmarks/lut_accuracy.py): whole = sum of entries -
~970 instructions per op beyond the first (least squares, residuals < 0.07%). Plain
calibration left the small or many-op models (8x8 digits CNN, MobileNetV1 at 32x32) up
to 1.4% too high; counting the overhead once brought every leave-one-out error within
0.3%. The overhead is measured like any entry, as the one-op model whose op does almost
nothing (`overhead_signature`: ADD of two 1-element tensors, 1,212 instructions, a
slight over-estimate of the ~970 saved per op). With it, a model's raw sum is

    raw_sum = sum(entries) - (n_ops - 1) * per_op_overhead

and calibration pairs must hold raw sums computed the same way (record
`estimate(...).raw_sum` next to each whole-model measurement). With the default
per_op_overhead=0 everything is the plain sum, as before.

The estimator never guesses a missing entry: it reports the missing digests, and the
caller measures them (they become jobs) before trusting a number.

A profile's calibration from the store (`profile_calibration`, used by
`estimate_from_store`) is the fit of calibration.py over its whole-model measurements
(per-op-type scales, per-model overhead, weight bytes beyond the cache, per-family
corrections) once there are enough; until then, and whenever the fit does not predict
held-out models better, it is the single scale above.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from latency_tables import calibration, store
from latency_tables.calibration import Calibration, Layer, Observation
from latency_tables.layer_weights import weight_bytes
from latency_tables.signature import LayerSignature


@dataclass(frozen=True)
class TableEstimate:
    """A model's estimated cost. `raw_sum`/`calibrated` are None while entries are missing.

    `per_op_overhead` is what was subtracted per op beyond the first (0: the plain sum).
    `scale` is calibrated / raw_sum. `family`: the model's calibration.family_key, when
    estimated from the store.
    """

    raw_sum: float | None
    calibrated: float | None
    missing: list[str] = field(default_factory=list)  # digests without an entry
    scale: float = 1.0
    per_op_overhead: float = 0.0
    family: str | None = None

    @property
    def complete(self) -> bool:
        return not self.missing


def overhead_signature(dtype: str = "float32") -> LayerSignature:
    """The table entry that measures the per-invoke overhead of a one-op model: an op
    that does almost nothing (ADD of two 1-element tensors), in the model's dtype."""
    return LayerSignature(op="ADD", inputs=((1, 1), (1, 1)), output=(1, 1), dtype=dtype)


def table_sum(entries: Sequence[float], per_op_overhead: float = 0.0) -> float:
    """The sum of a model's entries (one per op) with the per-invoke overhead counted once."""
    _check_overhead(per_op_overhead)
    if not entries:
        return 0.0
    return math.fsum(entries) - (len(entries) - 1) * per_op_overhead


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
    per_op_overhead: float = 0.0,
) -> TableEstimate:
    """Estimate a model whose layers have `layer_digests` (repeats count each time).

    `medians` maps digest -> table median. `per_op_overhead` (e.g. the entry of
    `overhead_signature()`) is counted once instead of once per op; the `measurements`
    pairs must have raw sums made the same way. Pure: no database.
    """
    _check_overhead(per_op_overhead)
    scale = calibration_scale(measurements)
    missing = list(dict.fromkeys(d for d in layer_digests if d not in medians))
    if missing:
        return TableEstimate(raw_sum=None, calibrated=None, missing=missing, scale=scale, per_op_overhead=per_op_overhead)
    raw_sum = table_sum([medians[d] for d in layer_digests], per_op_overhead)
    return TableEstimate(
        raw_sum=raw_sum, calibrated=raw_sum * scale, missing=[], scale=scale, per_op_overhead=per_op_overhead
    )


def profile_scale(session: Session, profile_id: str, metric: str) -> float:
    """The calibration scale of a profile+metric from its stored whole-model measurements."""
    return calibration_scale(store.calibration_pairs(session, profile_id, metric))


def estimate_from_store(
    session: Session,
    profile_id: str,
    metric: str,
    layers: Sequence[LayerSignature | str],
    overhead: LayerSignature | str | None = None,
) -> TableEstimate:
    """A model's estimate with entries and the profile's calibration read from the store.

    `layers`: the model's layers in order, as signatures or digests. `overhead`: the
    signature (or digest) of the entry that measures the per-invoke overhead, usually
    `overhead_signature(dtype)`; its entry is then counted once instead of once per op,
    and reported in `missing` like any other entry until it is measured. None (the
    default): the plain sum.
    """
    digests = [layer if isinstance(layer, str) else layer.digest for layer in layers]
    overhead_digest = None if overhead is None else (overhead if isinstance(overhead, str) else overhead.digest)
    wanted = digests + ([overhead_digest] if overhead_digest is not None else [])
    entries = store.lookup_entries(session, profile_id, metric, list(dict.fromkeys(wanted)))
    missing = list(dict.fromkeys(d for d in wanted if d not in entries))
    per_op_overhead = entries[overhead_digest].median if overhead_digest in entries else 0.0
    if missing:
        return TableEstimate(raw_sum=None, calibrated=None, missing=missing, per_op_overhead=per_op_overhead)
    signatures = [
        layer if isinstance(layer, LayerSignature) else LayerSignature.from_json(entries[layer].signature_json)
        for layer in layers
    ]
    medians = {digest: entry.median for digest, entry in entries.items()}
    fitted = profile_calibration(session, profile_id, metric)
    return calibrated_estimate(fitted, signatures, medians, per_op_overhead)


def calibrated_estimate(
    fitted: Calibration,
    signatures: Sequence[LayerSignature],
    medians: Mapping[str, float],
    per_op_overhead: float = 0.0,
) -> TableEstimate:
    """A model's estimate under a calibration (e.g. `Calibration(**lookup["calibration"])`
    on the run side), from its layers in order and the table's medians (digest -> median),
    with the per-invoke overhead entry counted once. Pure: no database."""
    _check_overhead(per_op_overhead)
    missing = list(dict.fromkeys(sig.digest for sig in signatures if sig.digest not in medians))
    if missing:
        return TableEstimate(raw_sum=None, calibrated=None, missing=missing, per_op_overhead=per_op_overhead)
    features = calibration.model_features(
        [Layer(sig.op, medians[sig.digest], weight_bytes(sig)) for sig in signatures], per_op_overhead
    )
    family = calibration.family_key(signatures[0].inputs[0] if signatures else (), [sig.op for sig in signatures])
    raw_sum = features.raw_sum
    calibrated = fitted.predict(features, family)
    return TableEstimate(
        raw_sum=raw_sum,
        calibrated=calibrated,
        scale=calibrated / raw_sum if raw_sum > 0 else 1.0,
        per_op_overhead=per_op_overhead,
        family=family,
    )


def profile_observations(session: Session, profile_id: str, metric: str) -> list[Observation]:
    """The profile+metric's whole-model measurements as the calibration fit reads them:
    those whose model's layers are kept and all have entries. Each layer's entry less
    the per-invoke overhead entry of the model's dtype, when the table has it."""
    rows = store.calibration_rows(session, profile_id, metric)
    probes = {dtype: overhead_signature(dtype).digest for dtype in {row.dtype for row in rows}}
    wanted = {d for row in rows for d, _, _ in row.layers} | set(probes.values())
    entries = store.lookup_entries(session, profile_id, metric, sorted(wanted))
    out = []
    for row in rows:
        if any(d not in entries for d, _, _ in row.layers):
            continue
        probe = entries.get(probes[row.dtype])
        features = calibration.model_features(
            [Layer(op, entries[d].median, w) for d, op, w in row.layers], probe.median if probe else 0.0
        )
        out.append(Observation(features, row.measured, row.family, row.model_sha256))
    return out


_fitted: dict[tuple[Any, ...], tuple[tuple[Any, ...], Calibration]] = {}
_fitted_lock = threading.Lock()


def profile_calibration(session: Session, profile_id: str, metric: str) -> Calibration:
    """The calibration of a profile+metric (see the module docstring), fitted again only
    when its measurements, entries or kept model layers have changed."""
    engine = session.get_bind()
    key = (id(engine), str(engine.engine.url), profile_id, metric)
    version = store.calibration_version(session, profile_id, metric)
    with _fitted_lock:
        cached = _fitted.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    fitted = calibration.fit(profile_observations(session, profile_id, metric))
    if fitted.kind == "scale":
        # Today's single scale, from every measurement's recorded raw sum (models whose
        # layers are not kept count too).
        fitted = replace(fitted, scale=profile_scale(session, profile_id, metric))
    with _fitted_lock:
        _fitted[key] = (version, fitted)
    return fitted


def _check_overhead(per_op_overhead: float) -> None:
    if not (math.isfinite(per_op_overhead) and per_op_overhead >= 0):
        raise ValueError(f"per_op_overhead must be finite and >= 0, got {per_op_overhead!r}")


def _usable(value: float) -> bool:
    return math.isfinite(value) and value > 0
