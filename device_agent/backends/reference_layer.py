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
from collections.abc import Sequence
from typing import TYPE_CHECKING

from latency_tables import LayerSignature, build_single_op_model

if TYPE_CHECKING:
    from device_agent.backends.base import Backend, Measurement

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


def counted_self_test(backend: Backend, results: Sequence[Measurement], *details: str) -> str:
    """The self-test report of a backend that counts instructions: the reference layer
    counted by two interpreters in one process, every steady invoke's count, then the
    backend's own `details` lines. RuntimeError if either measurement failed."""
    for result in results:
        if not result.ok:
            raise RuntimeError(f"{backend.name} self-test failed: {result.error}")
    a, b = (r.value for r in results)
    steady = [c for r in results for c in r.details["steady_invokes"]]
    # Emulated cores: two interpreters differ by a few instructions (buffer addresses).
    exact = "exact: all equal" if len(set(steady)) == 1 else f"{max(steady) - min(steady):,} apart"
    first = results[0].details["first_invoke"]
    return "\n".join([
        f"backend:    {backend.name} ({backend.describe().profile_key()})",
        f"reference:  {REFERENCE_DESCRIPTION}",
        f"counted:    {int(a):,} instructions",
        f"            {int(b):,} instructions (second interpreter; difference {abs(a - b) / max(a, b):.4%})",
        f"steady:     {', '.join(f'{c:,}' for c in steady)} ({exact})",
        f"invoke #1:  {first:,} (one-time set-up: {first - steady[0]:+,}; not reported)",
        *details,
    ])
