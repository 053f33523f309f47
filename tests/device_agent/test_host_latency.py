"""host-latency on the real LiteRT interpreter. Timings are noisy here (2 shared
cores): only wide margins are asserted."""

from __future__ import annotations

import math

import pytest

from device_agent.backends import get_backend
from device_agent.backends.host_latency import HostLatencyBackend
from tests.device_agent.layers import NOT_A_MODEL, conv, dense, model


@pytest.fixture(scope="module")
def backend() -> HostLatencyBackend:
    return get_backend("host-latency")  # type: ignore[return-value]


def test_conv_and_dense_have_positive_medians_and_finite_spread(backend: HostLatencyBackend) -> None:
    results = backend.measure_many([model(conv(16)), model(dense(1024, 256))])
    for result in results:
        assert result.ok, result.error
        assert result.median > 0 and math.isfinite(result.median)
        assert 0 <= result.spread and math.isfinite(result.spread)
        assert result.n == backend.plan.rounds
        details = result.details
        assert details["invokes_per_round"] >= backend.plan.min_invokes
        assert details["reference_ratio"] > 0 and details["reference_baseline_ms"] > 0


def test_sixteen_times_the_macs_is_clearly_slower(backend: HostLatencyBackend) -> None:
    small, large = backend.measure_many([model(conv(8)), model(conv(32))])  # 16x the MACs
    assert small.ok and large.ok
    assert large.median > 2 * small.median, (small, large)


def test_tiny_layers_get_more_invokes_per_round(backend: HostLatencyBackend) -> None:
    tiny, big = backend.measure_many([model(dense(64, 32)), model(conv(64, size=56))])
    assert tiny.details["invokes_per_round"] > 10 * big.details["invokes_per_round"]
    # A round lasts ~20 ms or more however fast the layer. Rounds are sized from a
    # calibration, which a slow period on this shared host can skew: a wide margin.
    assert tiny.details["round_ms"] >= 0.25 * backend.plan.min_round_ms, tiny.details


def test_a_bad_model_fails_alone(backend: HostLatencyBackend) -> None:
    bad, good = backend.measure_many([NOT_A_MODEL, model(conv(8))])
    assert not bad.ok and "cannot load model" in bad.error
    assert bad.to_job_result().error == bad.error
    assert good.ok


def test_describes_the_device(backend: HostLatencyBackend) -> None:
    device = backend.describe()
    assert device.backend == "host-latency" and device.metric == "latency_ms"
    assert device.runtime_version.startswith("ai-edge-litert ")
    assert device.threads == 1 and device.cpu_model


def test_unknown_backend_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="host-instructions, host-latency"):
        get_backend("gpu-latency")


def test_int8_layers_are_timed(backend: HostLatencyBackend) -> None:
    """Runs at precision int8 price int8 one-op models: int8 in, int8 out."""
    from latency_tables import LayerSignature, build_single_op_model

    signature = LayerSignature(
        op="CONV_2D", inputs=[(1, 16, 16, 32)], output=(1, 16, 16, 64), kernel=(3, 3), stride=(1, 1),
        padding="SAME", dtype="int8",
    )
    (result,) = backend.measure_many([build_single_op_model(signature)])
    assert result.ok, result.error
    assert result.median > 0 and math.isfinite(result.median)
