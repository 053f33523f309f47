"""A calibration of the table's sums fitted to whole-model measurements.

Why: a lone layer is timed with its weights and activations hot in cache and pays the
interpreter's per-invoke overhead; a whole model pays the overhead once and reads
weights that its other layers pushed out of the cache. One multiplicative scale per
profile (the old calibration) cannot follow costs that are not proportional to the sum.
Measured (benchmarks/lut_accuracy.py, README): on host latency of the 32x32 zoo models
the one scale over sums with the overhead counted once is already near the noise floor
of re-measuring a model in another process, and the fit is at most a little better on
held-out families (its own check often keeps the one scale); family corrections lower
the error of a family that has measurements. The fit is here for profiles where op types
or weight traffic do scale differently, and costs nothing where they do not.

The model, per profile and metric:

    cost = sum over op types t of s_t * S_t  +  o  +  w * max(0, W - cache_bytes)

- S_t: the sum of the model's entries of op type t, each less the per-invoke overhead
  entry (estimator.overhead_signature) when the table has it;
- s_t >= 0: a scale per op type (convolutions slow down with a cold cache more than
  element-wise ops); shrunk towards the profile's single scale so that an op type seen
  in few models does not swing on them;
- o >= 0: what the whole model pays once (invoke, tensor set-up);
- W: the model's weight bytes (layer_weights), w >= 0 per MiB beyond the cache.

Fitted by non-negative least squares on relative errors (each model's residual divided
by its measured cost, so a 50 ms model does not drown a 0.5 ms one). Then, per model
family (same architecture, any channel counts: `family_key`) with at least
`MIN_FAMILY` measured models, a factor corrects the remaining bias of that family: the
median of measured / fitted over its models.

Fallbacks, so the fit never does worse than what it replaces: with fewer than
`MIN_MODELS` measured models, or when the fit does not predict held-out families better
than the single scale (instruction counts are additive already), the calibration is the
single scale (median measured / raw sum), as before.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MIN_MODELS = 8  # distinct measured models before per-op scales are fitted
MIN_FAMILY = 2  # measured models of a family before it gets its own correction
MIN_FAMILIES_FOR_CHECK = 3  # below this, the fit is checked leave-one-out instead
FAMILY_ROUNDS = 5  # alternations of fit and family factors
SHRINK = 0.5  # weight of the pull of each op scale towards the single scale
MIB = float(1 << 20)
# Weight bytes beyond this are read from memory in a whole model but were cached when
# its layers were timed alone: the reference host's L2 per core. One value for every
# profile; w absorbs the rest, and comes out 0 where the models fit in a larger cache
# (the 32x32 zoo models on the reference host, benchmarks/lut_accuracy.py; 256 KiB and
# 4 MiB did no better there).
CACHE_BYTES = 1 << 20


@dataclass(frozen=True)
class Layer:
    """One op of a model as the fit sees it: its type, table entry and weight bytes."""

    op: str
    cost: float
    weight_bytes: int = 0


@dataclass(frozen=True)
class Features:
    """What the calibration reads from a model: see the module docstring."""

    op_sums: Mapping[str, float]  # op type -> sum of (entry - per-invoke overhead)
    weight_bytes: int
    n_ops: int
    overhead: float  # the per-invoke overhead entry (0 when the table has none)

    @property
    def raw_sum(self) -> float:
        """The uncalibrated estimate: entries summed, the per-invoke overhead counted once."""
        return math.fsum(self.op_sums.values()) + (self.overhead if self.n_ops else 0.0)


def model_features(layers: Iterable[Layer], per_op_overhead: float = 0.0) -> Features:
    """The features of a model made of `layers` (repeats count each time)."""
    sums: dict[str, float] = defaultdict(float)
    weights = n_ops = 0
    for layer in layers:
        sums[layer.op] += layer.cost - per_op_overhead
        weights += layer.weight_bytes
        n_ops += 1
    return Features(dict(sums), weights, n_ops, per_op_overhead)


def family_key(first_input: Sequence[int], ops: Sequence[str]) -> str:
    """The architecture of a model, whatever its channel counts: its input shape and the
    op types in order. Pruned variants of one model share it."""
    text = json.dumps([list(first_input), list(ops)], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Observation:
    """One whole-model measurement: the model's features, what it measured, its family.

    `model` identifies the model (its sha256): repeated measurements of one model count
    once, at their median, so a model measured often does not outweigh the others.
    """

    features: Features
    measured: float
    family: str = ""
    model: str = ""


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration. `kind` "scale": cost = scale * raw_sum; "fit": the model above."""

    kind: str
    scale: float  # the single scale (the fallback, and the target of the shrinkage)
    op_scales: Mapping[str, float] = field(default_factory=dict)
    overhead: float = 0.0  # o, in the metric's unit
    weight_coef: float = 0.0  # w, per MiB beyond cache_bytes
    cache_bytes: int = CACHE_BYTES
    families: Mapping[str, float] = field(default_factory=dict)  # family -> correction factor
    n_models: int = 0
    reason: str = ""  # why this kind was chosen

    def base(self, features: Features) -> float:
        """The estimate before any family correction."""
        if self.kind == "scale":
            return self.scale * features.raw_sum
        beyond = max(0.0, features.weight_bytes - self.cache_bytes) / MIB
        total = sum(self.op_scales.get(op, self.scale) * value for op, value in features.op_sums.items())
        return total + self.overhead + self.weight_coef * beyond

    def predict(self, features: Features, family: str | None = None) -> float:
        """The calibrated estimate of a model, with its family's correction if it has one."""
        return max(0.0, self.base(features) * self.families.get(family or "", 1.0))

    def describe(self) -> str:
        if self.kind == "scale":
            return f"one scale {self.scale:.4g} over {self.n_models} models ({self.reason})"
        scales = ", ".join(f"{op} {s:.3g}" for op, s in sorted(self.op_scales.items()))
        return (f"per-op scales {scales}; overhead {self.overhead:.4g}; {self.weight_coef:.4g} per MiB beyond "
                f"{self.cache_bytes / MIB:g} MiB; {len(self.families)} family corrections; {self.n_models} models "
                f"({self.reason})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scale": self.scale,
            "op_scales": dict(self.op_scales),
            "overhead": self.overhead,
            "weight_coef": self.weight_coef,
            "cache_bytes": self.cache_bytes,
            "families": dict(self.families),
            "n_models": self.n_models,
            "reason": self.reason,
        }


def single_scale(observations: Sequence[Observation]) -> float:
    """Median of measured / raw sum (the old calibration); 1.0 with nothing usable."""
    ratios = [o.measured / o.features.raw_sum for o in observations if _usable(o.measured) and _usable(o.features.raw_sum)]
    return statistics.median(ratios) if ratios else 1.0


def fit(
    observations: Sequence[Observation],
    *,
    min_models: float = MIN_MODELS,
    min_family: float = MIN_FAMILY,
    shrink: float = SHRINK,
    cache_bytes: int = CACHE_BYTES,
    check: bool = True,
) -> Calibration:
    """The calibration of a profile+metric from its whole-model measurements.

    `min_models`/`min_family`: see MIN_MODELS/MIN_FAMILY (math.inf turns a part off).
    `check`: keep the fit only if it predicts held-out families (or models) better
    than the single scale does.
    """
    models = merge_repeats([o for o in observations if _usable(o.measured) and _usable(o.features.raw_sum)])
    scale = single_scale(models)
    if len(models) < min_models:
        return Calibration("scale", scale, n_models=len(models), reason=f"fewer than {min_models} models")
    fitted = _fit_nnls(models, scale, shrink, cache_bytes)
    reason = "fitted"
    if check:
        fit_error, scale_error = _held_out_errors(models, shrink, cache_bytes)
        if fit_error >= scale_error:
            return Calibration("scale", scale, n_models=len(models),
                               reason=f"fit no better held out ({fit_error:.2%} vs {scale_error:.2%} median error)")
        reason = f"held-out median error {fit_error:.2%} vs {scale_error:.2%} for one scale"
    families: dict[str, float] = {}
    for _ in range(FAMILY_ROUNDS if min_family < math.inf else 0):
        # Alternate: family factors from the fit, then the fit on costs with the
        # factors divided out, so a strongly biased family does not bend the fit that
        # the other families (and unseen ones) get.
        families = _family_factors(models, fitted, min_family)
        if not families:
            break
        adjusted = [Observation(o.features, o.measured / families.get(o.family, 1.0), o.family, o.model)
                    for o in models]
        fitted = _fit_nnls(adjusted, single_scale(adjusted), shrink, cache_bytes)
    return Calibration(
        "fit", scale, fitted.op_scales, fitted.overhead, fitted.weight_coef, cache_bytes, families, len(models), reason
    )


def merge_repeats(observations: Sequence[Observation]) -> list[Observation]:
    """One observation per model (by `model`; unnamed ones stay apart), at the median."""
    named: dict[str, list[Observation]] = defaultdict(list)
    out: list[Observation] = []
    for o in observations:
        if o.model:
            named[o.model].append(o)
        else:
            out.append(o)
    for group in named.values():
        first = group[0]
        out.append(Observation(first.features, statistics.median(o.measured for o in group), first.family, first.model))
    return out


Split = tuple[list[Observation], Observation]


def leave_one_out(observations: Sequence[Observation]) -> list[Split]:
    """(every other observation, the one left out), for each observation."""
    return [([o for j, o in enumerate(observations) if j != i], test) for i, test in enumerate(observations)]


def leave_family_out(observations: Sequence[Observation]) -> list[Split]:
    """(the observations of every other family, the one left out), for each observation:
    nothing of the test model's architecture is in what it is calibrated on."""
    return [([o for o in observations if o.family != test.family], test) for test in observations]


def held_out_errors(
    observations: Sequence[Observation], splits: Callable[[Sequence[Observation]], list[Split]],
    fitter: Callable[[list[Observation]], Calibration],
) -> list[float]:
    """predicted / measured - 1 for each held-out observation, calibrated on its split."""
    return [fitter(train).predict(test.features, test.family) / test.measured - 1 for train, test in splits(observations)]


# ---- internals -----------------------------------------------------------------------


def _fit_nnls(models: Sequence[Observation], scale: float, shrink: float, cache_bytes: int) -> Calibration:
    ops = sorted({op for o in models for op in o.features.op_sums})
    rows, targets = [], []
    for o in models:
        f = o.features
        beyond = max(0.0, f.weight_bytes - cache_bytes) / MIB
        # relative residuals: divide each row by what the model measured
        rows.append([f.op_sums.get(op, 0.0) / o.measured for op in ops] + [1.0 / o.measured, beyond / o.measured])
        targets.append(1.0)
    # pull each op scale towards the single scale: sqrt(shrink) * (s_t - scale) = 0
    for i in range(len(ops)):
        row = [0.0] * (len(ops) + 2)
        row[i] = math.sqrt(shrink)
        rows.append(row)
        targets.append(math.sqrt(shrink) * scale)
    # NNLS needs the columns on comparable scales to converge well: normalise, then undo.
    from scipy.optimize import nnls  # ~0.3 s to import: only where a fit is made

    a = np.asarray(rows, dtype=float)
    norms = np.linalg.norm(a, axis=0)
    norms[norms == 0] = 1.0
    solution, _ = nnls(a / norms, np.asarray(targets, dtype=float), maxiter=50 * a.shape[1])
    beta = solution / norms
    return Calibration(
        "fit", scale, dict(zip(ops, (float(b) for b in beta[: len(ops)]))), float(beta[-2]), float(beta[-1]), cache_bytes
    )


def _held_out_errors(models: Sequence[Observation], shrink: float, cache_bytes: int) -> tuple[float, float]:
    """Median |error| of the fit (no family corrections) and of the single scale on
    held-out families (or held-out models when there are too few families)."""
    families = {o.family for o in models}
    splits = leave_family_out(models) if len(families) >= MIN_FAMILIES_FOR_CHECK else leave_one_out(models)
    fit_errors, scale_errors = [], []
    for train, test in splits:
        if not train:
            continue
        scale = single_scale(train)
        fitted = _fit_nnls(train, scale, shrink, cache_bytes)
        fit_errors.append(abs(fitted.predict(test.features) / test.measured - 1))
        scale_errors.append(abs(scale * test.features.raw_sum / test.measured - 1))
    if not fit_errors:
        return math.inf, 0.0
    return statistics.median(fit_errors), statistics.median(scale_errors)


def _family_factors(models: Sequence[Observation], fitted: Calibration, min_family: float) -> dict[str, float]:
    ratios: dict[str, list[float]] = defaultdict(list)
    for o in models:
        predicted = fitted.base(o.features)
        if o.family and predicted > 0:
            ratios[o.family].append(o.measured / predicted)
    factors = {family: statistics.median(r) for family, r in ratios.items() if len(r) >= min_family}
    if not factors:
        return {}
    # Relative to the typical family: the fit itself then stands for a family it has no
    # factor for.
    typical = statistics.median(factors.values())
    return {family: f / typical for family, f in factors.items()}


def _usable(value: float) -> bool:
    return math.isfinite(value) and value > 0
