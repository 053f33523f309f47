"""host-latency's cold-cache option (TimingPlan.flush_bytes), an experiment of
benchmarks/lut_accuracy.py: off by default, and when on, a buffer bigger than the cache
is rewritten before every timed invoke. Real LiteRT; no timing claims here."""

from __future__ import annotations

import numpy as np

from device_agent.backends.host_latency import TimedModel, TimingPlan
from latency_tables import LayerSignature, build_single_op_model

MODEL = build_single_op_model(LayerSignature(op="FULLY_CONNECTED", inputs=[(1, 64)], output=(1, 32)))
QUICK = TimingPlan(rounds=1, min_round_ms=1.0, warmup_ms=1.0, max_invokes=20)


def test_caches_stay_hot_by_default() -> None:
    assert TimingPlan().flush_bytes == 0
    assert TimedModel(MODEL, threads=1, plan=QUICK).flush_buffer is None


def test_cold_cache_rewrites_the_buffer_before_each_invoke() -> None:
    plan = TimingPlan(rounds=1, min_round_ms=1.0, warmup_ms=1.0, max_invokes=20, flush_bytes=2 << 20)
    timed = TimedModel(MODEL, threads=1, plan=plan)
    assert timed.flush_buffer is not None and timed.flush_buffer.nbytes == 2 << 20
    result = timed.time_round()
    assert result.median_ms > 0
    # every element was incremented once per invoke attempted (clean or preempted)
    attempts = result.clean + result.preempted
    assert attempts >= 1 and np.all(timed.flush_buffer == attempts)
