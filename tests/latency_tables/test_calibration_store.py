"""The calibration fed from the store: the layers of measured models are kept (from the
.tflite), joined with their measurements and entries, and fitted per profile+metric.
Real one-op .tflite files; SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.orm import Session

from latency_tables import LayerSignature, build_single_op_model, calibration, store
from latency_tables.db import write_transaction
from latency_tables.estimator import estimate_from_store, overhead_signature, profile_calibration
from latency_tables.layer_weights import weight_bytes
from latency_tables.protocol import DeviceDescription
from latency_tables.tflite_model import load_model
from tests.latency_tables.test_store import engine, session  # noqa: F401  (fixtures: SQLite and PostgreSQL)

DEVICE = DeviceDescription(backend="host-latency", cpu_model="test-cpu", runtime_version="r")
SCALES = {"CONV_2D": 2.0, "FULLY_CONNECTED": 1.2}


def conv(out_channels: int, size: int = 8) -> LayerSignature:
    return LayerSignature(op="CONV_2D", inputs=[(1, size, size, 4)], output=(1, size, size, out_channels),
                          kernel=(3, 3), stride=(1, 1), padding="SAME")


def dense(units: int) -> LayerSignature:
    return LayerSignature(op="FULLY_CONNECTED", inputs=[(1, 64)], output=(1, units))


def test_weight_bytes_are_the_constant_data_of_the_op(session: Session) -> None:
    for sig in (conv(16), dense(10), LayerSignature(op="DEPTHWISE_CONV_2D", inputs=[(1, 8, 8, 6)], output=(1, 8, 8, 6),
                                                    kernel=(3, 3), stride=(1, 1), padding="SAME")):
        model = load_model(build_single_op_model(sig))
        constants = sum(len(b.data) for b in model.buffers if b.data is not None)
        assert weight_bytes(sig) == constants, sig.op
    assert weight_bytes(dense(10).with_changes(dtype="int8")) == 64 * 10 + 4 * 10


def test_layers_of_a_tflite_are_kept_once(session: Session) -> None:
    tflite = build_single_op_model(conv(16))
    kept = store.keep_layers_of_tflite(session, "a" * 64, tflite)
    assert kept is not None and kept.layers() == [(conv(16).digest, "CONV_2D", weight_bytes(conv(16)))]
    assert kept.family == calibration.family_key((1, 8, 8, 4), ["CONV_2D"]) and kept.dtype == "float32"
    # the same model again: the row is kept as it was
    again = store.keep_layers_of_tflite(session, "a" * 64, build_single_op_model(conv(16), seed=3))
    assert again is not None and again.layers_json == kept.layers_json
    # not a model the tables can describe: nothing kept, nothing raised
    assert store.keep_layers_of_tflite(session, "b" * 64, b"\x1c\x00\x00\x00TFL3 not a model") is None
    session.rollback()
    assert session.get(store.ModelLayers, "b" * 64) is None


def _measure(session: Session, profile_id: str, sha: str, layers: list[LayerSignature], measured: float) -> None:
    store.record_model_layers(session, sha, layers)
    store.add_model_measurement(session, profile_id=profile_id, metric="latency_ms", model_sha256=sha,
                                measured=measured, spread=0.0, n=5, raw_sum=1.0)


def test_profile_calibration_fits_once_there_are_enough_models(session: Session) -> None:
    rng = np.random.default_rng(0)
    convs = [conv(c) for c in (8, 16, 24, 32, 40)]
    denses = [dense(u) for u in (10, 20, 30, 40, 50)]
    entry = {s.digest: float(rng.uniform(0.2, 2.0)) for s in convs + denses}
    with write_transaction(session):
        profile = store.get_or_create_profile(session, DEVICE)
        for s in convs + denses:
            store.upsert_entry(session, profile_id=profile.id, metric="latency_ms", signature=s,
                               median=entry[s.digest], spread=0.0, n=5)
        store.upsert_entry(session, profile_id=profile.id, metric="latency_ms", signature=overhead_signature(),
                           median=0.0, spread=0.0, n=5)
    models = []
    for i in range(12):
        # one, two or three convolutions before a dense layer or two: every model mixes the ops differently
        layers = [convs[(i + k) % 5] for k in range(1 + i % 3)] + [denses[(i * 3 + k) % 5] for k in range(1 + i % 2)]
        # small models only (no weight term): cost = sum of per-op scale * entry
        truth = sum(SCALES[s.op] * entry[s.digest] for s in layers)
        models.append((f"{i:064x}", layers, truth))
    with write_transaction(session):
        for sha, layers, truth in models[:5]:
            _measure(session, profile.id, sha, layers, truth)
    few = profile_calibration(session, profile.id, "latency_ms")
    # too few models: today's single scale over the recorded raw sums (1.0 each)
    assert few.kind == "scale"
    assert few.scale == pytest.approx(sorted(t for _, _, t in models[:5])[2])
    session.rollback()
    with write_transaction(session):
        for sha, layers, truth in models[5:]:
            _measure(session, profile.id, sha, layers, truth)
        # a measurement of a model whose layers are not kept: not fitted on
        store.add_model_measurement(session, profile_id=profile.id, metric="latency_ms", model_sha256="f" * 64,
                                    measured=1000.0, spread=0.0, n=5, raw_sum=1.0)
    fitted = profile_calibration(session, profile.id, "latency_ms")
    assert fitted.kind == "fit" and fitted.n_models == 12
    rows = store.calibration_rows(session, profile.id, "latency_ms")
    assert len(rows) == 12  # the model without kept layers is left out
    assert {r.model_sha256: r.layers for r in rows}[models[0][0]] == [
        (s.digest, s.op, weight_bytes(s)) for s in models[0][1]
    ]
    unseen = [convs[4], convs[0], denses[0], denses[1]]
    estimate = estimate_from_store(session, profile.id, "latency_ms", unseen, overhead=overhead_signature())
    assert estimate.raw_sum == pytest.approx(sum(entry[s.digest] for s in unseen))
    # the same as fitting the measurements by hand
    def features(layers: list[LayerSignature]) -> calibration.Features:
        return calibration.model_features([calibration.Layer(s.op, entry[s.digest], weight_bytes(s)) for s in layers])

    def family(layers: list[LayerSignature]) -> str:
        return calibration.family_key(layers[0].inputs[0], [s.op for s in layers])

    by_hand = calibration.fit([calibration.Observation(features(ls), t, family(ls), sha) for sha, ls, t in models])
    assert by_hand.kind == "fit"
    assert estimate.calibrated == pytest.approx(by_hand.predict(features(unseen), family(unseen)))
    # and it is nearer the truth than the sum
    truth = sum(SCALES[s.op] * entry[s.digest] for s in unseen)
    assert abs(estimate.calibrated - truth) < abs(estimate.raw_sum - truth)
    # digests instead of signatures: op types and weights are read from the entries
    by_digest = estimate_from_store(session, profile.id, "latency_ms", [s.digest for s in unseen],
                                    overhead=overhead_signature())
    assert by_digest.calibrated == pytest.approx(estimate.calibrated)
    assert by_digest.family == estimate.family == calibration.family_key((1, 8, 8, 4), [s.op for s in unseen])
