"""The benchmark_model output parser on fixtures in the formats the tool prints
(adb_fixtures/: stats_calculator tables with tab-separated right-aligned fields,
with and without the "INFO: " log prefix and the older [start] column)."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_agent.backends.adb_output import (
    BenchmarkOutputError,
    parse_benchmark_output,
    parse_cpu_list,
    parse_getprop,
    parse_run_stats,
)

FIXTURES = Path(__file__).with_name("adb_fixtures")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_xnnpack_profile_with_log_prefixes():
    out = parse_benchmark_output(fixture("xnnpack_op_profile.txt"))
    assert out.inference_avg_us == pytest.approx(385.817)
    assert (out.init_us, out.first_inference_us, out.warmup_avg_us) == (2771, 611, pytest.approx(391.566))
    assert [r.count for r in out.runs] == [1262, 2570]
    assert out.regular.std == 18 and out.regular.min == 371 and out.regular.max == 752
    assert out.parameters["Num threads"] == "1" and out.parameters["Enable op profiling"] == "1"
    # Only the regular runs' Run Order table; the initialization table is not an op.
    (op,) = out.ops
    assert op.node_type == "Convolution (NHWC, F32) IGEMM"
    assert op.name == "Delegate/Convolution (NHWC, F32) IGEMM:0"
    assert (op.first_ms, op.avg_ms, op.percent, op.times_called) == (0.391, 0.377, 100.0, 1)


def test_legacy_profile_with_start_column_and_tflite_kernels():
    out = parse_benchmark_output(fixture("tflite_op_profile_legacy.txt"))
    assert out.inference_avg_us == pytest.approx(3064.45)
    assert [op.node_type for op in out.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]  # run order, not by time
    assert [op.name for op in out.ops][1] == "[model/block1_dw/Relu6]:1"
    assert sum(op.avg_ms for op in out.ops) == pytest.approx(3.064)


def test_scientific_notation_and_a_single_warmup_run():
    out = parse_benchmark_output(fixture("timings_only_slow.txt"))
    assert out.inference_avg_us == pytest.approx(2.95034e06)
    assert out.warmup_avg_us == pytest.approx(3.51239e06)
    warmup, regular = out.runs
    assert (warmup.count, warmup.avg, warmup.std) == (1, 3512391, 0.0)
    assert regular.avg == pytest.approx(2.95034e06) and regular.std == 109798
    assert out.ops == []


def test_tabs_expanded_to_spaces_still_parse():
    text = fixture("xnnpack_op_profile.txt").expandtabs(8)
    (op,) = parse_benchmark_output(text).ops
    assert op.node_type == "Convolution (NHWC, F32) IGEMM" and op.avg_ms == 0.377


def test_output_without_results_says_where_it_stopped():
    with pytest.raises(BenchmarkOutputError, match="Loaded model /data/local/tmp/netadapt/batch/00003.tflite"):
        parse_benchmark_output(fixture("cut_short.txt"))


def test_run_stats_forms():
    assert parse_run_stats("count=5 curr=120(all same)").avg == 120
    assert parse_run_stats("count=0") is None
    assert parse_run_stats("Running benchmark for at least 50 iterations") is None


def test_getprop_and_cpu_lists():
    props = parse_getprop("[ro.product.model]: [Pixel 7]\n[ro.soc.model]: [GS201]\n[ro.empty]: []\n")
    assert props == {"ro.product.model": "Pixel 7", "ro.soc.model": "GS201", "ro.empty": ""}
    assert parse_cpu_list("0-3,6\n") == [0, 1, 2, 3, 6]
    assert parse_cpu_list("0") == [0]
