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
    overhead_signature,
    profile_scale,
    table_sum,
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


def test_table_sum_counts_the_per_invoke_overhead_once() -> None:
    # three one-op models, each paying a 1,000-instruction invoke overhead
    assert table_sum([1_500.0, 3_000.0, 1_200.0]) == 5_700.0
    assert table_sum([1_500.0, 3_000.0, 1_200.0], per_op_overhead=1_000.0) == 3_700.0
    assert table_sum([1_500.0], per_op_overhead=1_000.0) == 1_500.0  # one op: nothing to remove
    assert table_sum([], per_op_overhead=1_000.0) == 0.0


def test_estimate_with_overhead_predicts_an_additive_metric_exactly() -> None:
    # instruction counts: whole = one overhead + the ops' own work; entries pay it each
    overhead, work = 1_000.0, {"a": 50_000.0, "b": 20_000.0, "c": 7_000.0}
    medians = {d: overhead + w for d, w in work.items()}

    def whole(digests: list[str]) -> float:
        return overhead + sum(work[d] for d in digests)

    other = ["a", "b", "b", "c"]
    plain = estimate(other, medians)
    assert plain.raw_sum == whole(other) + 3 * overhead  # 3 overheads too many
    pairs = [(whole(other), estimate(other, medians, per_op_overhead=overhead).raw_sum)]
    model = ["a", "c", "c", "c", "b"]
    result = estimate(model, medians, pairs, per_op_overhead=overhead)
    assert result.scale == 1.0 and result.per_op_overhead == overhead
    assert result.calibrated == whole(model)
    # plain calibration is off in proportion to each model's op count and size
    plain_result = estimate(model, medians, [(whole(other), plain.raw_sum)])
    assert plain_result.calibrated != pytest.approx(whole(model), rel=1e-3)


def test_estimate_with_overhead_applies_the_scale_to_the_corrected_sum() -> None:
    result = estimate(["a", "b", "a"], {"a": 3.0, "b": 5.0}, [(18.0, 9.0)], per_op_overhead=1.0)
    assert result == TableEstimate(raw_sum=9.0, calibrated=18.0, missing=[], scale=2.0, per_op_overhead=1.0)


def test_estimate_with_overhead_still_reports_missing_entries() -> None:
    result = estimate(["a", "b"], {"a": 3.0}, per_op_overhead=1.0)
    assert result.missing == ["b"] and result.raw_sum is None and result.calibrated is None


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_overhead_must_be_finite_and_not_negative(bad: float) -> None:
    with pytest.raises(ValueError, match="per_op_overhead"):
        estimate(["a"], {"a": 1.0}, per_op_overhead=bad)
    with pytest.raises(ValueError, match="per_op_overhead"):
        table_sum([1.0], per_op_overhead=bad)


def test_overhead_signature_is_a_tiny_add_in_the_models_dtype() -> None:
    sig = overhead_signature()
    assert (sig.op, sig.inputs, sig.output, sig.dtype) == ("ADD", ((1, 1), (1, 1)), (1, 1), "float32")
    assert overhead_signature("int8").dtype == "int8"
    assert overhead_signature("int8").digest != sig.digest


def measure_model(session, profile_id: str, metric: str, sha_digit: str, *, measured: float, n: int,
                  raw_sum: float | None = None) -> None:
    """An exact (spread 0) whole-model measurement of the model whose sha256 is `sha_digit` x 64."""
    store.add_model_measurement(
        session, profile_id=profile_id, metric=metric, model_sha256=sha_digit * 64, measured=measured, spread=0.0,
        n=n, raw_sum=raw_sum,
    )


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
            measure_model(session, profile.id, "latency_ms", "0", measured=6.0, n=5, raw_sum=3.0)
            # no raw_sum: not used for calibration
            measure_model(session, profile.id, "latency_ms", "1", measured=100.0, n=5)
        assert profile_scale(session, profile.id, "latency_ms") == 2.0
        assert profile_scale(session, profile.id, "instructions") == 1.0
        complete = estimate_from_store(session, profile.id, "latency_ms", [sig[0], sig[1], sig[1].digest])
        assert (complete.raw_sum, complete.calibrated) == (7.0, 14.0)
        partial = estimate_from_store(session, profile.id, "latency_ms", sig)
        assert partial.missing == [sig[2].digest]
    engine.dispose()


def test_estimate_from_store_counts_the_overhead_entry_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    create_all(engine)
    sig = [LayerSignature(op="FULLY_CONNECTED", inputs=[(1, 64)], output=(1, units)) for units in (10, 20)]
    probe = overhead_signature()
    with make_session_factory(engine)() as session:
        with write_transaction(session):
            profile = store.get_or_create_profile(
                session, DeviceDescription(backend="host-instructions", cpu_model="c", runtime_version="r")
            )
            for s, median in zip(sig, (3_000.0, 5_000.0), strict=True):
                store.upsert_entry(
                    session, profile_id=profile.id, metric="instructions", signature=s, median=median, spread=0.0, n=1
                )
        layers = [sig[0], sig[1], sig[1]]
        # the overhead entry is not measured yet: reported like any missing entry
        waiting = estimate_from_store(session, profile.id, "instructions", layers, overhead=probe)
        assert waiting.missing == [probe.digest] and waiting.calibrated is None
        session.rollback()  # end the read transaction
        with write_transaction(session):
            store.upsert_entry(
                session, profile_id=profile.id, metric="instructions", signature=probe, median=1_000.0, spread=0.0, n=1
            )
            measure_model(session, profile.id, "instructions", "0", measured=10_000.0, n=1, raw_sum=10_000.0)
        plain = estimate_from_store(session, profile.id, "instructions", layers)
        assert plain.raw_sum == 13_000.0 and plain.per_op_overhead == 0.0
        counted = estimate_from_store(session, profile.id, "instructions", layers, overhead=probe.digest)
        assert (counted.raw_sum, counted.calibrated, counted.per_op_overhead) == (11_000.0, 11_000.0, 1_000.0)
        # the overhead entry itself as the only layer: nothing to subtract
        alone = estimate_from_store(session, profile.id, "instructions", [probe], overhead=probe)
        assert alone.raw_sum == 1_000.0 and alone.complete
    engine.dispose()
