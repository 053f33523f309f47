"""Estimates: sum of entries x calibration scale; missing entries are reported, not guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from latency_tables import LayerSignature, store
from latency_tables.db import create_all, make_engine, make_session_factory, write_transaction
from latency_tables.estimator import (
    TableEstimate,
    calibrate,
    calibration_scale,
    estimate,
    estimate_from_store,
    profile_scale,
)
from latency_tables.protocol import DeviceDescription


def test_scale_is_one_without_measurements() -> None:
    assert calibration_scale([]) == 1.0
    assert calibrate(5.0, []) == 5.0


def test_scale_is_the_median_ratio() -> None:
    # host latency: lone layers sum to ~0.58x the whole model
    pairs = [(10.0, 5.8), (20.0, 11.6), (100.0, 10.0)]  # the last one is an outlier
    assert calibration_scale(pairs) == pytest.approx(10.0 / 5.8)
    assert calibrate(5.8, pairs) == pytest.approx(10.0)


def test_additive_metrics_calibrate_to_about_one() -> None:
    pairs = [(1_000_200.0, 1_000_000.0), (2_000_400.0, 2_000_000.0)]
    assert calibration_scale(pairs) == pytest.approx(1.0002)


def test_unusable_pairs_are_skipped() -> None:
    assert calibration_scale([(10.0, 0.0), (float("nan"), 1.0), (-1.0, 2.0), (6.0, 3.0)]) == 2.0


def test_estimate_counts_repeated_layers_and_applies_the_scale() -> None:
    result = estimate(["a", "b", "a"], {"a": 1.0, "b": 2.0}, [(8.0, 4.0)])
    assert result == TableEstimate(raw_sum=4.0, calibrated=8.0, missing=[], scale=2.0)
    assert result.complete


def test_estimate_reports_missing_entries_instead_of_guessing() -> None:
    result = estimate(["a", "b", "c", "b"], {"a": 1.0}, [(8.0, 4.0)])
    assert result.missing == ["b", "c"]
    assert result.raw_sum is None and result.calibrated is None
    assert not result.complete


def test_estimate_from_store(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    create_all(engine)
    sig = [LayerSignature(op="FULLY_CONNECTED", inputs=[(1, 64)], output=(1, units)) for units in (10, 20, 30)]
    with make_session_factory(engine)() as session:
        with write_transaction(session):
            profile = store.get_or_create_profile(
                session, DeviceDescription(backend="host-latency", cpu_model="c", runtime_version="r")
            )
            for s, median in zip(sig[:2], (1.0, 3.0), strict=True):
                store.upsert_entry(
                    session, profile_id=profile.id, metric="latency_ms", signature=s, median=median, spread=0.0, n=5
                )
            store.add_model_measurement(
                session,
                profile_id=profile.id,
                metric="latency_ms",
                model_sha256="0" * 64,
                measured=6.0,
                spread=0.0,
                n=5,
                raw_sum=3.0,
            )
            # no raw_sum: not used for calibration
            store.add_model_measurement(
                session,
                profile_id=profile.id,
                metric="latency_ms",
                model_sha256="1" * 64,
                measured=100.0,
                spread=0.0,
                n=5,
            )
        assert profile_scale(session, profile.id, "latency_ms") == 2.0
        assert profile_scale(session, profile.id, "instructions") == 1.0
        complete = estimate_from_store(session, profile.id, "latency_ms", [sig[0], sig[1], sig[1].digest])
        assert (complete.raw_sum, complete.calibrated) == (7.0, 14.0)
        partial = estimate_from_store(session, profile.id, "latency_ms", sig)
        assert partial.missing == [sig[2].digest]
    engine.dispose()
