"""The pieces of benchmarks/lut_accuracy.py that its figures rest on: two-op models cut
from a converted model (the fusion test's T12), the fusion rule, and the held-out
analysis on saved measurements."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import lut_accuracy  # noqa: E402

from latency_tables import signatures_from_tflite  # noqa: E402


def test_connected_pairs_are_cut_as_runnable_two_op_models() -> None:
    from ai_edge_litert.interpreter import Interpreter

    from service.costs.device_export import to_device_tflite
    from service.zoo import build

    tflite = to_device_tflite(build("digits_cnn"), "float32")
    signatures = signatures_from_tflite(tflite)
    pairs = lut_accuracy.adjacent_pairs(tflite, signatures)
    assert len(pairs) == len(signatures) - 1  # a plain chain: every op reads the one before
    for first, second, model in pairs:
        assert [s.digest for s in signatures_from_tflite(model)] == [first, second]
        interpreter = Interpreter(model_content=model)
        interpreter.allocate_tensors()
        interpreter.invoke()


def test_fusion_rule_takes_the_per_invoke_overhead_off_first() -> None:
    # two 0.6 ms ops measured together in 0.8 ms: "fused" on raw times...
    assert lut_accuracy.fused(0.6, 0.6, 0.8)
    # ...but 0.5 ms of each is the invoke a two-op model pays once: not fused
    assert not lut_accuracy.fused(0.6, 0.6, 0.8, overhead=0.5)
    assert lut_accuracy.fused(2.0, 2.0, 2.5, overhead=0.1)


def test_fused_pairs_replace_two_entries_by_one() -> None:
    from latency_tables.calibration import Layer

    case = lut_accuracy.Case("m", "f", 1.0, ["a", "b", "c"], ["CONV_2D", "ADD", "MEAN"], [10, 0, 0], pairs=["a|b", "b|c"])
    entries = {"a": 2.0, "b": 1.0, "c": 1.0}
    layers = [Layer(op, entries[d], w) for d, op, w in zip(case.digests, case.ops, case.weights)]
    out = lut_accuracy.fuse_pairs(case, entries, {"a|b": 2.1, "b|c": 2.0}, layers)
    assert out == [Layer("CONV_2D+ADD", 2.1, 10), Layer("MEAN", 1.0, 0)]
