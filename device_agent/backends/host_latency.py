"""host-latency: wall-clock latency of the LiteRT interpreter on this machine's CPU.

How a model is timed (each choice answers a measured problem; MEASUREMENT_NOTES.md and
the agent's report have the numbers):

- One interpreter per model, XNNPACK (applied by default), `num_threads` threads, the
  process pinned to fixed cores: migrations between cores add noise.
- A round times `invokes` invokes one by one with perf_counter_ns and keeps their
  median. `invokes` adapts so a round lasts >= ~20 ms: a 1 us dense layer is dominated
  by Python's invoke() overhead and timer resolution and needs thousands of samples; a
  50 ms model needs only a few.
- Preempted invokes are left out (one thread only). On this shared 2-core host other
  processes often want both cores; the kernel then time-slices our pinned thread, and
  an invoke that loses the CPU mid-way takes its own time plus someone else's slice.
  Measured: conv3x3 56x56x64 (2.2 ms) was preempted in 18-72% of invokes, median
  wall time up to 10 ms, while a 0.14 ms layer was preempted ~1% of the time, so
  dividing by the reference cannot see it. The thread's CPU clock (thread_time_ns)
  stops while it is off the CPU: an invoke whose wall time exceeds its CPU time by
  more than 5% (+20 us) was preempted, and its sample is dropped (up to 4x the
  invokes are tried to collect a round; a round with fewer than `min_invokes` clean
  invokes is measured again, like a slow one). What remains is still wall-clock time,
  including memory stalls, just without other processes' time slices.
- Rounds alternate with rounds of a fixed REFERENCE layer (ref, model, ref, model, ...,
  ref). The shared host also has slow periods (everything 1.4-2x slower, no counter
  shows it); the reference slows down with the model, so each model round is divided by
  how slow the reference was around it: `model_ms * baseline_ms / reference_now_ms`,
  where `baseline_ms` is the reference measured at start-up (the 20th percentile of 25
  rounds spread over ~1.5 s; lowered later if quieter reference rounds show the
  start-up window was slow) and `reference_now_ms` the mean of the two reference
  rounds either side. This cut the cross-process spread from
  ~21% to ~7% in the notes. The value is therefore "latency in start-up conditions".
- A round whose reference is > 1.3x its baseline fell into a slow period and is measured
  again (at most `rounds` re-measurements per model): normalising corrects most of a
  slowdown but not all of it.
- The result is the median of the normalised rounds; spread = IQR / median of them.
- `TimingPlan.flush_bytes` (default 0: off) times each invoke with a cold cache: a
  buffer that size is written between invokes, outside the timed region, so the op
  reads its weights and activations from memory as it would inside a bigger model.
  An experiment for the table's calibration (benchmarks/lut_accuracy.py); agents keep
  the hot-cache default.
"""

from __future__ import annotations

import collections
import gc
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from device_agent import device_info
from device_agent.backends.base import Backend, CpuChoice, Measurement, core_numbers
from device_agent.backends.model_inputs import fill_random_inputs
from device_agent.backends.reference_layer import REFERENCE_DESCRIPTION, reference_model
from device_agent.text import one_line
from latency_tables.protocol import DeviceDescription

SLOW_PERIOD_RATIO = 1.3  # reference this much slower than its baseline: a slow period
CALIBRATION_MS = 2.0  # time at least this long to size the rounds
PREEMPTED_RELATIVE = 0.05  # wall - cpu above 5% of cpu...
PREEMPTED_ABSOLUTE_NS = 20_000  # ...and above 20 us: the thread was off the CPU
MAX_ATTEMPTS_FACTOR = 4  # try up to 4x the invokes to collect a round of clean ones
REFERENCE_HISTORY_ROUNDS = 5000  # ~100 s of reference timing


@dataclass(frozen=True)
class TimingPlan:
    """How long and how often to time. Defaults favour robustness over speed."""

    rounds: int = 7
    min_round_ms: float = 20.0  # a round lasts at least this long...
    min_invokes: int = 5  # ...and has at least this many invokes
    max_invokes: int = 50_000  # a 0.6 us dense layer needs ~33k for 20 ms
    warmup_ms: float = 50.0  # first invokes pack weights and fault pages in
    min_warmup_invokes: int = 3
    # The baseline is a low quantile of reference rounds spread over ~1.5 s: one short
    # burst at start-up can land in a slow period and would then skew every value
    # this agent reports.
    baseline_rounds: int = 25
    baseline_gap_ms: float = 40.0
    baseline_quantile: float = 0.2
    flush_bytes: int = 0  # > 0: evict the caches before every timed invoke (cold cache)


@dataclass(frozen=True)
class RoundTiming:
    median_ms: float
    clean: int  # invokes kept
    preempted: int  # invokes dropped because the thread lost the CPU
    contended: bool  # fewer clean invokes than min_invokes (none: the median is of CPU time)


def pin_to_cpus(cpus: Iterable[int]) -> list[int]:
    """Pin the calling thread (and threads it starts later) to `cpus`."""
    wanted = sorted(set(cpus))
    available = device_info.usable_cpus()
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise ValueError(f"cpu {unknown} is not available to this process (usable: {available})")
    os.sched_setaffinity(0, wanted)
    return wanted


def default_cpus(threads: int) -> list[int]:
    """The last `threads` usable cores: core 0 usually takes more interrupts and daemons."""
    available = device_info.usable_cpus()
    if threads > len(available):
        raise ValueError(f"{threads} threads but only {len(available)} usable cpus")
    return available[-threads:]


class TimedModel:
    """An allocated interpreter with random inputs, ready to time."""

    def __init__(self, model: bytes, threads: int, plan: TimingPlan) -> None:
        self.interpreter = Interpreter(model_content=model, num_threads=threads)
        self.interpreter.allocate_tensors()
        fill_random_inputs(self.interpreter)
        self.plan = plan
        # Written between invokes to evict the caches; None keeps them hot (the default).
        self.flush_buffer = np.zeros(plan.flush_bytes // 8, dtype=np.int64) if plan.flush_bytes > 0 else None
        # With worker threads the calling thread waits for them, so its CPU clock says
        # nothing about preemption: keep every sample then.
        self.filter_preempted = threads == 1
        self.invokes_per_round = self._warm_up_and_size_rounds()

    def _warm_up_and_size_rounds(self) -> int:
        plan, invoke = self.plan, self.interpreter.invoke
        count, start = 0, time.perf_counter_ns()
        while count < plan.min_warmup_invokes or (time.perf_counter_ns() - start) < plan.warmup_ms * 1e6:
            invoke()
            count += 1
        # Size rounds from the warmed-up time per invoke (the warm-up average includes
        # one-time work), on the thread's CPU clock when it is meaningful so that a
        # time slice lost here does not shrink every round. A block of invokes, not
        # single samples: a 1 us layer is below the timers' useful resolution.
        clock = time.thread_time_ns if self.filter_preempted else time.perf_counter_ns
        block = 1
        while True:
            start = clock()
            for _ in range(block):
                invoke()
            elapsed_ms = (clock() - start) / 1e6
            if elapsed_ms >= CALIBRATION_MS or block >= plan.max_invokes:
                break
            block *= 4
        wanted = math.ceil(plan.min_round_ms / max(elapsed_ms / block, 1e-6))
        return int(min(max(wanted, plan.min_invokes), plan.max_invokes))

    def time_round(self) -> RoundTiming:
        """Median wall time of `invokes_per_round` invokes the thread was not preempted in."""
        invoke = self.interpreter.invoke
        wall_clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
        wanted = self.invokes_per_round
        attempts = wanted * MAX_ATTEMPTS_FACTOR if self.filter_preempted else wanted
        walls = np.empty(attempts, dtype=np.int64)
        cpus = np.empty(attempts, dtype=np.int64)
        clean = done = 0
        flush = self.flush_buffer
        while clean < wanted and done < attempts:
            if flush is not None:
                flush += 1  # touches every line: the invoke below starts with a cold cache
            c0 = cpu_clock()
            w0 = wall_clock()
            invoke()
            w1 = wall_clock()
            c1 = cpu_clock()
            walls[done], cpus[done] = w1 - w0, c1 - c0
            if not self.filter_preempted or (w1 - w0) - (c1 - c0) <= max(
                PREEMPTED_RELATIVE * (c1 - c0), PREEMPTED_ABSOLUTE_NS
            ):
                clean += 1
            done += 1
        walls, cpus = walls[:done], cpus[:done]
        if self.filter_preempted:
            kept = walls - cpus <= np.maximum(PREEMPTED_RELATIVE * cpus, PREEMPTED_ABSOLUTE_NS)
        else:
            kept = np.ones(done, dtype=bool)
        clean = int(kept.sum())
        contended = clean < min(wanted, self.plan.min_invokes)
        if clean:
            median_ns = float(np.median(walls[kept]))
        else:
            # Every invoke lost the CPU (invokes longer than a time slice on a busy
            # host): CPU time is then the best estimate of an unpreempted wall time.
            median_ns = float(np.median(cpus))
        return RoundTiming(median_ns / 1e6, clean, done - clean, contended)


def relative_iqr(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    q1, q3 = np.percentile(values, [25, 75])
    median = float(np.median(values))
    return float((q3 - q1) / median) if median > 0 else 0.0


class HostLatencyBackend(Backend):
    name = "host-latency"
    metric = "latency_ms"

    def __init__(self, threads: int = 1, cpu: CpuChoice = None, plan: TimingPlan | None = None) -> None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = threads
        self.plan = plan or TimingPlan()
        self.cpus = pin_to_cpus(core_numbers(self.name, cpu) or default_cpus(threads))
        self.reference = TimedModel(reference_model(), threads, self.plan)
        # Every reference round is kept: a baseline taken in a slow period is lowered
        # as soon as quieter rounds show it was too high (see _current_baseline).
        self.reference_history: collections.deque[float] = collections.deque(maxlen=REFERENCE_HISTORY_ROUNDS)
        self.startup_baseline_ms, self.baseline_spread = self._measure_baseline()

    def _measure_baseline(self) -> tuple[float, float]:
        rounds = []
        for _ in range(self.plan.baseline_rounds):
            with _gc_paused():
                rounds.append(self._time_reference())
            time.sleep(self.plan.baseline_gap_ms / 1000)
        return float(np.quantile(rounds, self.plan.baseline_quantile)), relative_iqr(rounds)

    def _time_reference(self) -> float:
        median_ms = self.reference.time_round().median_ms
        self.reference_history.append(median_ms)
        return median_ms

    @property
    def reference_baseline_ms(self) -> float:
        """The start-up baseline, lowered (never raised) by the rounds seen since.

        Measured: a start-up window can fall entirely in a slow period (baseline 0.237
        ms instead of ~0.15 ms), which then inflated every normalised value of that
        agent by 1.4x. The same low quantile over all reference rounds so far corrects
        that; capping it at the start-up value keeps a long busy stretch later from
        dragging the baseline up.
        """
        history = np.quantile(self.reference_history, self.plan.baseline_quantile)
        return float(min(self.startup_baseline_ms, history))

    def describe(self) -> DeviceDescription:
        return DeviceDescription(
            backend=self.name,
            cpu_model=device_info.cpu_model(),
            runtime_version=device_info.litert_version(),
            threads=self.threads,
            delegate="xnnpack",
            metric=self.metric,
        )

    def measure_many(self, models: list[bytes]) -> list[Measurement]:
        return [self._measure_one(model) for model in models]

    def _measure_one(self, model: bytes) -> Measurement:
        try:
            timed = TimedModel(model, self.threads, self.plan)
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError for bad models
            return Measurement.failed(f"cannot load model in LiteRT: {one_line(exc)}")
        try:
            with _gc_paused():
                return self._time_rounds(timed)
        except Exception as exc:
            return Measurement.failed(f"invoke failed: {one_line(exc)}")
        finally:
            del timed

    def _time_rounds(self, timed: TimedModel) -> Measurement:
        baseline = self.reference_baseline_ms
        normalised: list[float] = []
        raw: list[float] = []
        ratios: list[float] = []
        round_ms: list[float] = []
        remeasured = slow_kept = clean = preempted = contended = 0
        reference_before = self._time_reference()
        while len(normalised) < self.plan.rounds:
            round_started = time.perf_counter_ns()
            model = timed.time_round()
            round_ms.append((time.perf_counter_ns() - round_started) / 1e6)
            reference_after = self._time_reference()
            reference_now = (reference_before + reference_after) / 2
            reference_before = reference_after
            ratio = reference_now / baseline
            if ratio > SLOW_PERIOD_RATIO or model.contended:
                if remeasured < self.plan.rounds:
                    remeasured += 1
                    continue
                slow_kept += 1
            normalised.append(model.median_ms * baseline / reference_now)
            raw.append(model.median_ms)
            ratios.append(ratio)
            clean, preempted, contended = clean + model.clean, preempted + model.preempted, contended + model.contended
        return Measurement(
            median=float(np.median(normalised)),
            spread=relative_iqr(normalised),
            n=len(normalised),
            details={
                "rounds": len(normalised),
                "invokes_per_round": timed.invokes_per_round,
                "round_ms": round(float(np.median(round_ms)), 3),  # wall time of one model round
                "reference_invokes_per_round": self.reference.invokes_per_round,
                "reference_ratio": round(float(np.median(ratios)), 4),
                "reference_baseline_ms": round(baseline, 6),
                "raw_median_ms": float(np.median(raw)),
                "remeasured_rounds": remeasured,
                "slow_rounds_kept": slow_kept,  # slow or contended rounds kept: re-measure budget spent
                "preempted_fraction": round(preempted / max(clean + preempted, 1), 4),
                "contended_rounds": contended,
                "cpus": self.cpus,
            },
        )

    def self_test(self) -> str:
        result = self.measure(reference_model())
        if not result.ok:
            raise RuntimeError(f"{self.name} self-test failed: {result.error}")
        d = result.details
        return "\n".join(
            [
                f"backend:    {self.name} ({self.describe().profile_key()})",
                f"reference:  {REFERENCE_DESCRIPTION}",
                f"baseline:   {self.startup_baseline_ms:.4f} ms at start-up "
                f"(20th percentile of {self.plan.baseline_rounds} rounds, IQR/median {self.baseline_spread:.1%}); "
                f"now {self.reference_baseline_ms:.4f} ms",
                f"measured:   {result.median:.4f} ms normalised, {d['raw_median_ms']:.4f} ms raw, "
                f"spread {result.spread:.1%}, {result.n} rounds x {d['invokes_per_round']} invokes",
                f"conditions: reference ratio {d['reference_ratio']:.3f}, re-measured rounds "
                f"{d['remeasured_rounds']}, preempted invokes dropped {d['preempted_fraction']:.1%}",
                f"pinned to:  cpu {','.join(map(str, self.cpus))}, {self.threads} thread(s)",
            ]
        )


class _gc_paused:
    """Collector pauses would land inside timed invokes (timeit does the same)."""

    def __enter__(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()
