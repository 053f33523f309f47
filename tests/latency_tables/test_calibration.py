"""The table's calibration: NNLS fit of per-op scales, overhead and weight bytes; its
fallbacks and the held-out splits it is judged by. Pure: synthetic measurements."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latency_tables import calibration
from latency_tables.calibration import Features, Layer, Observation, family_key, fit, model_features
from latency_tables.estimator import table_sum

TRUE_SCALES = {"CONV_2D": 1.8, "DEPTHWISE_CONV_2D": 1.2, "ADD": 0.6}
TRUE_OVERHEAD = 0.05
TRUE_WEIGHT_COEF = 0.4  # per MiB beyond the cache


def synthetic(n: int, seed: int = 0, families: int = 4) -> list[Observation]:
    """Models with random per-op sums, measured exactly as the true model says."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        sums = {op: float(rng.uniform(0.1, 3.0)) for op in TRUE_SCALES}
        weights = int(rng.uniform(0, 6) * calibration.MIB)
        features = Features(sums, weights, n_ops=10, overhead=0.0)
        measured = (
            sum(TRUE_SCALES[op] * v for op, v in sums.items())
            + TRUE_OVERHEAD
            + TRUE_WEIGHT_COEF * max(0, weights - calibration.CACHE_BYTES) / calibration.MIB
        )
        out.append(Observation(features, measured, family=f"f{i % families}", model=f"m{i}"))
    return out


def test_fit_recovers_known_per_op_scales_overhead_and_weight_term() -> None:
    result = fit(synthetic(30), shrink=0.0)
    assert result.kind == "fit"
    for op, scale in TRUE_SCALES.items():
        assert result.op_scales[op] == pytest.approx(scale, rel=1e-6)
    assert result.overhead == pytest.approx(TRUE_OVERHEAD, rel=1e-5)
    assert result.weight_coef == pytest.approx(TRUE_WEIGHT_COEF, rel=1e-6)
    # exact data: no family has a bias left to correct
    assert all(f == pytest.approx(1.0) for f in result.families.values())
    # and it predicts a model it has not seen
    unseen = synthetic(1, seed=99)[0]
    assert result.predict(unseen.features) == pytest.approx(unseen.measured, rel=1e-6)


def test_shrinkage_pulls_op_scales_towards_the_single_scale() -> None:
    data = synthetic(30)
    free, pulled = fit(data, shrink=0.0), fit(data, shrink=50.0)
    for op in TRUE_SCALES:
        assert abs(pulled.op_scales[op] - pulled.scale) < abs(free.op_scales[op] - free.scale)


def test_coefficients_stay_non_negative() -> None:
    # a model that measured less than its ADDs alone suggest would need a negative term
    data = synthetic(20)
    data.append(Observation(Features({"ADD": 100.0}, 0, 1, 0.0), 1.0, "odd", "odd"))
    result = fit(data, shrink=0.0, check=False)
    assert min(result.op_scales.values()) >= 0 and result.overhead >= 0 and result.weight_coef >= 0


def test_few_measurements_fall_back_to_the_single_scale() -> None:
    data = synthetic(calibration.MIN_MODELS - 1)
    result = fit(data)
    assert result.kind == "scale"
    ratios = sorted(o.measured / o.features.raw_sum for o in data)
    assert result.scale == pytest.approx(ratios[len(ratios) // 2])
    assert result.predict(data[0].features) == pytest.approx(result.scale * data[0].features.raw_sum)


def test_no_measurements_leave_the_sum_as_it_is() -> None:
    result = fit([])
    assert (result.kind, result.scale) == ("scale", 1.0)
    assert result.predict(Features({"CONV_2D": 2.0}, 0, 1, 0.5)) == 2.5


def test_repeated_measurements_of_one_model_count_once_at_their_median() -> None:
    one = synthetic(1)[0]
    repeats = [Observation(one.features, one.measured * k, one.family, one.model) for k in (1.0, 1.1, 3.0)]
    merged = calibration.merge_repeats(repeats)
    assert len(merged) == 1 and merged[0].measured == pytest.approx(one.measured * 1.1)
    # seven measurements of one model are one model: not enough to fit
    assert fit([Observation(one.features, one.measured, one.family, one.model)] * 10).n_models == 1


def test_a_biased_family_gets_its_own_correction() -> None:
    data = synthetic(24, families=3)
    biased = [Observation(o.features, o.measured * 1.3 if o.family == "f0" else o.measured, o.family, o.model)
              for o in data]
    result = fit(biased, check=False, min_family=2, shrink=0.0)
    assert result.families["f0"] / result.families["f1"] == pytest.approx(1.3, rel=0.05)
    test = next(o for o in biased if o.family == "f0")
    assert result.predict(test.features, "f0") == pytest.approx(test.measured, rel=0.05)
    # a family with fewer measured models than min_family gets none
    assert fit(biased, check=False, min_family=100).families == {}


def test_leave_family_out_holds_out_the_whole_architecture() -> None:
    data = synthetic(12, families=3)
    splits = calibration.leave_family_out(data)
    assert len(splits) == 12
    for train, test in splits:
        assert test not in train and all(o.family != test.family for o in train)
        assert len(train) == 8
    for train, test in calibration.leave_one_out(data):
        assert test not in train and len(train) == 11


def test_held_out_errors_calibrate_each_model_without_it() -> None:
    data = synthetic(12, families=3)
    # a calibrator that only knows the mean measured cost of what it was given
    seen: list[int] = []

    def fitter(train: list[Observation]) -> calibration.Calibration:
        seen.append(len(train))
        return calibration.Calibration("scale", sum(o.measured for o in train) / sum(o.features.raw_sum for o in train))

    errors = calibration.held_out_errors(data, calibration.leave_family_out, fitter)
    assert seen == [8] * 12 and len(errors) == 12
    exact = calibration.held_out_errors(data, calibration.leave_family_out, lambda train: fit(train, shrink=0.0))
    assert max(abs(e) for e in exact) < 1e-6


def test_the_fit_is_kept_only_when_it_predicts_held_out_families_better() -> None:
    data = synthetic(30)
    kept = fit(data)
    assert kept.kind == "fit" and "held-out" in kept.reason
    # costs that are a plain multiple of the sum: one scale is exact, the fit adds nothing
    proportional = [Observation(o.features, 2.0 * o.features.raw_sum, o.family, o.model) for o in data]
    assert fit(proportional).kind == "scale"
    assert fit(proportional).predict(data[0].features) == pytest.approx(2.0 * data[0].features.raw_sum)


def test_model_features_count_the_per_invoke_overhead_once() -> None:
    layers = [Layer("CONV_2D", 3.0, 100), Layer("ADD", 1.5, 0), Layer("CONV_2D", 2.0, 50)]
    f = model_features(layers, per_op_overhead=1.0)
    assert f.op_sums == {"CONV_2D": 3.0, "ADD": 0.5}
    assert (f.weight_bytes, f.n_ops) == (150, 3)
    assert f.raw_sum == pytest.approx(table_sum([3.0, 1.5, 2.0], 1.0))
    assert model_features([], 1.0).raw_sum == 0.0


def test_family_key_ignores_channel_counts_only() -> None:
    ops = ["CONV_2D", "DEPTHWISE_CONV_2D", "MEAN"]
    assert family_key((1, 32, 32, 3), ops) == family_key([1, 32, 32, 3], list(ops))
    assert family_key((1, 32, 32, 3), ops) != family_key((1, 64, 64, 3), ops)
    assert family_key((1, 32, 32, 3), ops) != family_key((1, 32, 32, 3), ops[:2])


def test_calibration_round_trips_as_a_dict() -> None:
    result = fit(synthetic(20))
    again = calibration.Calibration(**result.to_dict())
    sample = synthetic(1, seed=5)[0]
    assert again.predict(sample.features, "f1") == result.predict(sample.features, "f1")
    assert math.isfinite(again.predict(sample.features))


def test_calibrated_estimate_applies_a_calibration_to_signatures() -> None:
    from latency_tables import LayerSignature
    from latency_tables.estimator import calibrated_estimate

    sigs = [LayerSignature(op="FULLY_CONNECTED", inputs=[(1, 64)], output=(1, u)) for u in (10, 20)]
    medians = {sigs[0].digest: 2.0, sigs[1].digest: 3.0}
    fitted = calibration.Calibration("fit", 1.0, {"FULLY_CONNECTED": 2.0}, overhead=0.5)
    result = calibrated_estimate(fitted, sigs, medians, per_op_overhead=0.25)
    # (2.0 - 0.25) + (3.0 - 0.25) scaled by 2, plus the fitted overhead
    assert result.calibrated == pytest.approx(2 * 4.5 + 0.5)
    assert result.raw_sum == pytest.approx(4.75) and result.scale == pytest.approx(9.5 / 4.75)
    assert result.family == family_key((1, 64), ["FULLY_CONNECTED", "FULLY_CONNECTED"])
    missing = calibrated_estimate(fitted, sigs, {sigs[0].digest: 2.0})
    assert missing.missing == [sigs[1].digest] and missing.calibrated is None
