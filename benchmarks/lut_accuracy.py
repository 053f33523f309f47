"""How well does a calibrated sum of one-layer table entries predict a whole model's cost?

For the zoo models and random channel-pruned variants of each, in ONE process per backend:
every distinct layer signature is built as a one-op .tflite (build_single_op_model) and
measured, every whole model is exported (to_device_tflite) and measured, and layer and
model measurements are shuffled together so a slow period of the shared host hits both
alike. The estimate of model i is the sum of its layers' entries times a calibration
scale taken from the OTHER models only (leave-one-out), through latency_tables.estimator,
so no model is calibrated on itself. A stricter leave-family-out (no variant of the same
zoo architecture either) is summarised too.

A trivial one-op model (ADD of two 1-element tensors) is measured in the same run: its
cost is almost all per-invoke overhead, which N one-layer models pay N times and the
whole model once. Estimates are printed both plain (the sum of entries) and with that
overhead counted once (`per_op_overhead` of estimator.estimate).

    python benchmarks/lut_accuracy.py [--backends host-instructions,host-latency] [--variants 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import inspect
import math
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

ZOO_SPECS: list[tuple[str, dict]] = [
    ("digits_cnn", {}),
    ("vgg", {}),
    ("mobilenet_v1", {"alpha": 0.5}),
    ("mobilenet_v2", {}),
    ("resnet20", {}),
    ("unet", {}),
]
OVERHEAD_PROBE = "ADD (1,1)+(1,1)"


@dataclass
class Case:
    label: str
    family: str
    kept: float  # share of prunable channels kept
    digests: list[str]  # one per op, in order (repeats count)
    tflite: bytes
    measured: dict[str, float] = field(default_factory=dict)  # backend -> whole-model median


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_cases(variants: int, seed: int, min_keep: float, dtype: str) -> tuple[list[Case], dict, dict]:
    """The models, their signatures, and the distinct signatures (digest -> signature)."""
    from service.costs.device_export import to_device_tflite
    from service.costs.keras_signatures import signatures_for_config
    from service.surgery import analyze, prune
    from service.zoo import build
    from latency_tables import signatures_from_tflite

    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    distinct: dict = {}
    timing = {"export_s": 0.0, "prune_s": 0.0, "mismatches": 0}
    for name, kwargs in ZOO_SPECS:
        base = build(name, **kwargs)
        graph = analyze(base)
        full = graph.channel_config()
        for v in range(variants + 1):
            if v == 0:
                counts, model, label = dict(full), base, name
            else:
                counts, keep = {}, {}
                for group in graph.prunable_groups:
                    c = group.channels
                    k = int(rng.integers(max(1, math.ceil(min_keep * c)), c + 1))
                    counts[group.id] = k
                    keep[group.id] = sorted(rng.choice(c, k, replace=False).tolist())
                t0 = time.perf_counter()
                model = prune(base, keep, graph=graph)
                timing["prune_s"] += time.perf_counter() - t0
                label = f"{name}/v{v}"
            sigs = signatures_for_config(graph, counts, dtype)
            t0 = time.perf_counter()
            tflite = to_device_tflite(model, dtype)
            timing["export_s"] += time.perf_counter() - t0
            # The derivation is proven equal to the converter's ops; check it here too.
            if Counter(s.digest for s in sigs) != Counter(s.digest for s in signatures_from_tflite(tflite)):
                timing["mismatches"] += 1
                log(f"WARNING: {label}: derived signatures differ from the converter's ops")
            for s in sigs:
                distinct.setdefault(s.digest, s)
            kept = sum(counts.values()) / sum(full.values())
            cases.append(Case(label, name, kept, [s.digest for s in sigs], tflite))
            log(f"  built {label}: {len(sigs)} ops, {kept:.0%} of channels")
    return cases, distinct, timing


def measure_backend(name: str, cases: list[Case], layer_models: dict[str, bytes], probe: bytes,
                    seed: int, batch: int) -> tuple[dict[str, float], float, float]:
    """Entries (digest -> median) and the overhead probe, all measured in one process."""
    from device_agent.backends import get_backend

    backend = get_backend(name, threads=1)
    items: list[tuple[str, object, bytes]] = [("layer", d, m) for d, m in layer_models.items()]
    items += [("model", i, c.tflite) for i, c in enumerate(cases)]
    items += [("probe", OVERHEAD_PROBE, probe)]
    random.Random(seed).shuffle(items)  # models and layers interleaved
    # callgrind pays ~5 s per valgrind process: batch; timing is per model anyway.
    size = batch if name == "host-instructions" else 1
    entries: dict[str, float] = {}
    probe_value = math.nan
    started = time.perf_counter()
    for start in range(0, len(items), size):
        chunk = items[start : start + size]
        results = backend.measure_many([m for _, _, m in chunk])
        for (kind, key, _), result in zip(chunk, results):
            if not result.ok:
                raise RuntimeError(f"{name}: {kind} {key} failed: {result.error}")
            if kind == "layer":
                entries[key] = result.median
            elif kind == "model":
                cases[key].measured[name] = result.median
            else:
                probe_value = result.median
        done = start + len(chunk)
        if done % 50 < size or done == len(items):
            log(f"  {name}: {done}/{len(items)} measured, {time.perf_counter() - started:.0f} s")
    return entries, probe_value, time.perf_counter() - started


def leave_out(cases: list[Case], i: int, pairs: list[tuple[float, float]], family: bool) -> list[tuple[float, float]]:
    return [p for j, p in enumerate(pairs) if j != i and not (family and cases[j].family == cases[i].family)]


def report(name: str, cases: list[Case], entries: dict[str, float], overhead: float) -> None:
    from latency_tables import estimator

    unit = "instr" if name == "host-instructions" else "ms"
    fmt = (lambda v: f"{v:,.0f}") if unit == "instr" else (lambda v: f"{v:.4f}")
    has_overhead = "per_op_overhead" in inspect.signature(estimator.estimate).parameters
    variants = [("plain", 0.0)] + ([("overhead", overhead)] if has_overhead else [])

    def run(o: float, family: bool) -> tuple[list, list]:
        kw = {"per_op_overhead": o} if has_overhead else {}
        # raw sums as the estimator defines them (with the overhead counted once when o > 0)
        raws = [estimator.estimate(c.digests, entries, **kw).raw_sum for c in cases]
        pairs = [(c.measured[name], r) for c, r in zip(cases, raws)]
        ests = [estimator.estimate(c.digests, entries, leave_out(cases, i, pairs, family), **kw) for i, c in enumerate(cases)]
        return raws, ests

    print(f"\n=== {name} ({unit}; {len(entries)} entries, {len(cases)} whole models; "
          f"overhead probe {OVERHEAD_PROBE} = {fmt(overhead)} {unit}) ===")
    results = {label: run(o, False) for label, o in variants}
    head = f"{'model':<16} {'kept':>5} {'ops':>4} {'raw sum':>14} {'estimate':>14} {'measured':>14} {'error':>8}"
    if has_overhead:
        head += f" | {'raw-ovh':>14} {'estimate':>14} {'error':>8}"
    print(head)
    for i, c in enumerate(cases):
        measured = c.measured[name]
        line = ""
        for label, _ in variants:
            raws, ests = results[label]
            e = ests[i]
            err = e.calibrated / measured - 1
            cells = f"{fmt(raws[i]):>14} {fmt(e.calibrated):>14}"
            if label == "plain":
                line = f"{c.label:<16} {c.kept:>5.0%} {len(c.digests):>4} {cells} {fmt(measured):>14} {err:>+8.2%}"
            else:
                line += f" | {cells} {err:>+8.2%}"
        print(line)

    print(f"--- summary {name} ---")
    ratios = [c.measured[name] / r for c, r in zip(cases, results["plain"][0])]
    print(f"measured/raw-sum ratio over all models: median {statistics.median(ratios):.4f}, "
          f"min {min(ratios):.4f}, max {max(ratios):.4f}  (all-model calibration scale)")
    # Evidence for the overhead model, from the whole models alone (not used by any
    # estimate above): least squares of measured = s * (raw - (n_ops - 1) * o).
    design = np.array([[r, -(len(c.digests) - 1)] for c, r in zip(cases, results["plain"][0])])
    target = np.array([c.measured[name] for c in cases])
    (s, so), *_ = np.linalg.lstsq(design, target, rcond=None)
    fitted = design @ np.array([s, so])
    print(f"least-squares fit over all {len(cases)} models of measured = s*(raw - (ops-1)*o): s {s:.4f}, "
          f"o {fmt(so / s)} {unit}/op (probe {fmt(overhead)}); max |residual| "
          f"{np.max(np.abs(fitted / target - 1)):.3%} (in-sample)")
    for label, o in variants:
        for family in (False, True):
            _, ests = run(o, family)
            errs = [e.calibrated / c.measured[name] - 1 for e, c in zip(ests, cases)]
            absr = [abs(e) for e in errs]
            scales = [e.scale for e in ests]
            how = "leave-family-out" if family else "leave-one-out"
            tag = f"[{label}{'' if label == 'plain' else f' {fmt(o)} {unit}/op'}, {how}]"
            if unit == "instr":
                print(f"{tag} max |error| {max(absr):.3%}, median |error| {statistics.median(absr):.3%}; "
                      f"every error within 1%: {'YES' if max(absr) <= 0.01 else 'NO'} "
                      f"({sum(a <= 0.01 for a in absr)}/{len(absr)}); scale {statistics.median(scales):.5f} "
                      f"(range {min(scales):.5f}..{max(scales):.5f})")
            else:
                print(f"{tag} median |error| {statistics.median(absr):.1%}, max {max(absr):.1%}; "
                      f"within +-10%: {sum(a <= 0.10 for a in absr)}/{len(absr)} "
                      f"({sum(a <= 0.10 for a in absr) / len(absr):.0%}), within +-5%: "
                      f"{sum(a <= 0.05 for a in absr)}/{len(absr)} ({sum(a <= 0.05 for a in absr) / len(absr):.0%}); "
                      f"scale {statistics.median(scales):.3f} (range {min(scales):.3f}..{max(scales):.3f}; "
                      f"lone layers sum to {1 / statistics.median(scales):.2f}x a whole model)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="host-instructions,host-latency")
    parser.add_argument("--variants", type=int, default=3, help="random pruned variants per zoo model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-keep", type=float, default=0.25, help="least share of a group's channels kept")
    parser.add_argument("--dtype", default="float32", choices=["float32", "int8"])
    parser.add_argument("--batch", type=int, default=80, help="models per valgrind process (host-instructions)")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    wall = time.perf_counter()

    from latency_tables import LayerSignature, build_single_op_model

    t0 = time.perf_counter()
    cases, distinct, timing = build_cases(args.variants, args.seed, args.min_keep, args.dtype)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    layer_models = {d: build_single_op_model(s) for d, s in distinct.items()}
    layers_s = time.perf_counter() - t0
    probe = build_single_op_model(LayerSignature(op="ADD", inputs=[(1, 1), (1, 1)], output=(1, 1), dtype=args.dtype))
    ops = sum(len(c.digests) for c in cases)
    print(f"{len(cases)} models ({len(ZOO_SPECS)} zoo + {args.variants} random variants each, "
          f"{args.min_keep:.0%}-100% of each group's channels, seed {args.seed}), {args.dtype}: "
          f"{ops} ops, {len(distinct)} distinct layer signatures")
    print(f"models built+pruned+exported in {build_s:.1f} s (export {timing['export_s']:.1f} s, "
          f"prune {timing['prune_s']:.1f} s); {len(distinct)} one-op models built in {layers_s:.2f} s; "
          f"derived-vs-converter signature mismatches: {timing['mismatches']}")

    for name in backends:
        entries, overhead, seconds = measure_backend(name, cases, layer_models, probe, args.seed, args.batch)
        print(f"\n{name}: {len(layer_models)} layers + {len(cases)} models + 1 probe measured in {seconds:.0f} s "
              "(one process, shuffled together)")
        report(name, cases, entries, overhead)
    print(f"\ntotal wall time {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
