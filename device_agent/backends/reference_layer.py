"""The fixed reference layer every backend measures in its self-test.

host-latency also times it next to every model: the shared host has slow periods in
which everything runs 1.4-2x slower, and dividing by how slow the reference is right
now removes most of that (MEASUREMENT_NOTES.md: cross-process spread ~21% -> ~7%).
A mid-sized conv is a good reference because it exercises the same XNNPACK GEMM path
and memory traffic as the layers we measure, and takes ~0.1-0.3 ms: long enough to
time with perf_counter_ns, short enough to interleave with every round.
"""

from __future__ import annotations

import functools

from latency_tables import LayerSignature, build_single_op_model

REFERENCE_DESCRIPTION = "conv3x3 28x28x32->32 float32"
REFERENCE_SIGNATURE = LayerSignature(
    op="CONV_2D",
    inputs=((1, 28, 28, 32),),
    output=(1, 28, 28, 32),
    kernel=(3, 3),
    stride=(1, 1),
    padding="SAME",
    dtype="float32",
)


@functools.lru_cache(maxsize=1)
def reference_model() -> bytes:
    return build_single_op_model(REFERENCE_SIGNATURE, seed=0)
