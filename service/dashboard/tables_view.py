"""What the lookup tables page shows: per profile and metric, its entries, its whole-model
measurements against the estimate made before each, and how far the table's estimates
are from the measurements per model family, before and after the calibration
(latency_tables.calibration).

Errors per family, as median |estimate / measured - 1| over the family's models:

- raw sum: the entries summed (per-invoke overhead counted once), uncalibrated;
- one scale: the raw sum times the median measured / raw sum of the profile (the
  calibration before per-op fitting);
- calibrated: the profile's calibration as estimates use it now;
- family held out: the calibration fitted without any model of the family, so a new
  architecture's first estimate is about this far off.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from sqlalchemy.orm import Session

from latency_tables import calibration, store
from latency_tables.estimator import profile_calibration, profile_observations

HISTOGRAM_BINS = 12
MIN_FAMILIES_TO_HOLD_OUT = 2  # holding a family out needs another one to fit on


def histogram(values: list[float], bins: int = HISTOGRAM_BINS) -> dict[str, list[float]]:
    """Counts of values in equal-width bins (percent error), for the error distribution."""
    if not values:
        return {"x": [], "y": []}
    low, high = min(values), max(values)
    if math.isclose(low, high):
        return {"x": [low], "y": [len(values)]}
    width = (high - low) / bins
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int((value - low) / width))] += 1
    return {"x": [low + width * (i + 0.5) for i in range(bins)], "y": counts}


def tables_page(session: Session) -> dict[str, Any]:
    tables = []
    for profile in store.list_profiles(session):
        measurements = store.list_measurements(session, profile.id)
        metrics = sorted({profile.metric, *(m.metric for m in measurements)})
        for metric in metrics:
            rows = [m for m in measurements if m.metric == metric]
            paired = [m for m in rows if m.estimated is not None]
            errors = [100.0 * m.relative_error for m in paired if m.relative_error is not None]
            families = family_errors(session, profile.id, metric)
            tables.append(
                {
                    "id": f"{profile.id}-{metric}",
                    "profile": profile,
                    "metric": metric,
                    "entries": store.count_entries(session, profile.id, metric),
                    "measurements": len(rows),
                    "mean_abs_error": sum(abs(e) for e in errors) / len(errors) if errors else None,
                    "scatter": {
                        "x": [m.measured for m in paired],
                        "y": [m.estimated for m in paired],
                        "text": [f"model {m.model_sha256[:12]}" for m in paired],
                    },
                    "errors": histogram(errors),
                    **families,
                }
            )
    return {"tables": tables}


def family_errors(session: Session, profile_id: str, metric: str) -> dict[str, Any]:
    """The calibration in use and the error table per family (see the module docstring)."""
    observations = profile_observations(session, profile_id, metric)
    if not observations:
        return {"calibration": None, "families": []}
    models = calibration.merge_repeats(observations)
    current = profile_calibration(session, profile_id, metric)
    scale = calibration.single_scale(models)
    labels = _family_labels(session, profile_id, metric)
    names = sorted({o.family for o in models}, key=lambda f: labels.get(f, f))
    held_out = (
        {family: calibration.fit([o for o in models if o.family != family]) for family in names}
        if len(names) >= MIN_FAMILIES_TO_HOLD_OUT
        else {}
    )
    measured_count = Counter(o.family for o in observations)

    def row(key: str, label: str, members: list[calibration.Observation], measured: int) -> dict[str, Any]:
        def median_error(predict: Any) -> float:
            return 100.0 * statistics.median(abs(predict(o) / o.measured - 1) for o in members)

        return {
            "key": key,
            "label": label,
            "models": len(members),
            "measurements": measured,
            "raw": median_error(lambda o: o.features.raw_sum),
            "one_scale": median_error(lambda o: scale * o.features.raw_sum),
            "calibrated": median_error(lambda o: current.predict(o.features, o.family)),
            "held_out": median_error(lambda o: held_out[o.family].predict(o.features, o.family)) if held_out else None,
        }

    rows = [row(f, labels.get(f, f), [o for o in models if o.family == f], measured_count[f]) for f in names]
    if len(rows) > 1:
        rows.append(row("all", "all families", models, len(observations)))
    return {"calibration": current.describe(), "families": rows}


def _family_labels(session: Session, profile_id: str, metric: str) -> dict[str, str]:
    """A readable name per family: its op count and most frequent op types."""
    labels: dict[str, str] = {}
    for row in store.calibration_rows(session, profile_id, metric):
        if row.family in labels:
            continue
        ops = Counter(op for _, op, _ in row.layers)
        common = ", ".join(f"{n} {op}" for op, n in ops.most_common(2))
        labels[row.family] = f"{len(row.layers)} ops ({common}{', …' if len(ops) > 2 else ''}) · {row.family[:6]}"
    return labels
