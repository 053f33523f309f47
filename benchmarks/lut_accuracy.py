"""How well does a calibrated sum of one-layer table entries predict a whole model's cost?

For the zoo models and random channel-pruned variants of each, in ONE process per backend:
every distinct layer signature is built as a one-op .tflite (build_single_op_model) and
measured, every whole model is exported (to_device_tflite) and measured, and layer and
model measurements are shuffled together so a slow period of the shared host hits both
alike. A trivial one-op model (ADD of two 1-element tensors) measures the per-invoke
overhead that N one-layer models pay N times and the whole model once.

Estimates, each for a model from calibrations fitted on OTHER models only:

- before: the old calibration, one scale (median measured/raw sum), leave-one-out and
  leave-family-out (no variant of the same zoo architecture either);
- after: latency_tables.calibration (per-op-type scales, per-model overhead, weight
  bytes beyond the cache, by non-negative least squares; the family's own measurements
  correct it when there are enough), leave-family-out and leave-one-out.

Experiments on host latency (reported even when they do not help):

- noise floor: every whole model re-measured in --repeats fresh agent processes; how
  far a model's own measurement in another process is from the first one;
- nn-Meter's fusion test: each connected pair of adjacent ops of the whole models is
  cut out as a two-op model and measured; a pair whose T1 + T2 - T12 > 0.5 min(T1, T2)
  counts as one kernel, and its estimate uses T12 as one entry;
- lone layers with a cold cache (host_latency TimingPlan.flush_bytes), in place of the
  hot-cache entries.

Measurements are saved (--save) and can be analysed again without measuring (--load).

    python benchmarks/lut_accuracy.py [--backends host-instructions,host-latency] [--variants 3] [--seed 0]
        [--repeats 2] [--no-experiments] [--save FILE | --load FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

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
LATENCY = "host-latency"
INSTRUCTIONS = "host-instructions"
COLD_FLUSH_BYTES = 4 << 20  # 4x this host's 1 MiB L2 per core
FUSED_FRACTION = 0.5  # nn-Meter: fused when T1 + T2 - T12 > 0.5 min(T1, T2)


@dataclass
class Case:
    label: str
    family: str
    kept: float  # share of prunable channels kept
    digests: list[str]  # one per op, in order (repeats count)
    ops: list[str]  # op type of each digest
    weights: list[int]  # weight bytes of each op (latency_tables.layer_weights)
    pairs: list[str] = field(default_factory=list)  # "d1|d2" of connected adjacent ops
    measured: dict[str, float] = field(default_factory=dict)  # backend -> whole-model median
    repeats: dict[str, list[float]] = field(default_factory=dict)  # backend -> medians in other processes


@dataclass
class Data:
    cases: list[Case]
    entries: dict[str, dict[str, float]] = field(default_factory=dict)  # backend -> digest -> median
    probe: dict[str, float] = field(default_factory=dict)  # backend -> overhead probe
    pairs: dict[str, float] = field(default_factory=dict)  # "d1|d2" -> two-op model (host latency)
    cold: dict[str, float] = field(default_factory=dict)  # digest -> cold-cache lone layer (host latency)
    seconds: dict[str, float] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(asdict(self), f)

    @classmethod
    def load(cls, path: str) -> "Data":
        with open(path) as f:
            raw = json.load(f)
        raw["cases"] = [Case(**c) for c in raw["cases"]]
        return cls(**raw)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- building ------------------------------------------------------------------------


def build_cases(variants: int, seed: int, min_keep: float, dtype: str) -> tuple[list[Case], dict, dict, list[str]]:
    """The models, their whole .tflite, distinct layer signatures and two-op pair models."""
    from latency_tables import signatures_from_tflite
    from latency_tables.layer_weights import weight_bytes
    from service.costs.device_export import to_device_tflite
    from service.costs.keras_signatures import signatures_for_config
    from service.surgery import analyze, prune
    from service.zoo import build

    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    distinct: dict = {}
    tflites: dict[str, bytes] = {}
    pair_models: dict[str, bytes] = {}
    export_s = prune_s = 0.0
    mismatches = 0
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
                prune_s += time.perf_counter() - t0
                label = f"{name}/v{v}"
            sigs = signatures_for_config(graph, counts, dtype)
            t0 = time.perf_counter()
            tflite = to_device_tflite(model, dtype)
            export_s += time.perf_counter() - t0
            converted = signatures_from_tflite(tflite)
            # The derivation is proven equal to the converter's ops; check it here too.
            if Counter(s.digest for s in sigs) != Counter(s.digest for s in converted):
                mismatches += 1
                log(f"WARNING: {label}: derived signatures differ from the converter's ops")
            for s in sigs:
                distinct.setdefault(s.digest, s)
            case = Case(label, name, sum(counts.values()) / sum(full.values()), [s.digest for s in sigs],
                        [s.op for s in sigs], [weight_bytes(s) for s in sigs])
            for first, second, pair_model in adjacent_pairs(tflite, converted):
                key = f"{first}|{second}"
                case.pairs.append(key)
                pair_models.setdefault(key, pair_model)
            cases.append(case)
            tflites[label] = tflite
            log(f"  built {label}: {len(sigs)} ops, {case.kept:.0%} of channels")
    header = [f"models built+pruned+exported (export {export_s:.1f} s, prune {prune_s:.1f} s); "
              f"derived-vs-converter signature mismatches: {mismatches}"]
    return cases, distinct, {"tflites": tflites, "pairs": pair_models}, header


def adjacent_pairs(tflite: bytes, signatures: Sequence) -> list[tuple[str, str, bytes]]:
    """(digest, digest, two-op .tflite) for each op whose next op reads its output."""
    from latency_tables.tflite_model import load_model

    model = load_model(tflite)
    operators = model.subgraphs[0].operators
    pairs = []
    for i in range(len(operators) - 1):
        if set(int(t) for t in operators[i].outputs) & set(int(t) for t in operators[i + 1].inputs):
            pairs.append((signatures[i].digest, signatures[i + 1].digest, cut_ops(tflite, i, i + 2)))
    return pairs


def cut_ops(tflite: bytes, start: int, stop: int) -> bytes:
    """A .tflite with only operators [start, stop) of the main subgraph: the tensors they
    read that no kept op writes (constants aside) become its inputs, the last op's
    outputs its outputs."""
    import flatbuffers

    from latency_tables.model_assembly import SIGNATURE_KEY, _AlignedBufferT
    from latency_tables.tflite_model import load_model
    from latency_tables.tflite_schema import FILE_IDENTIFIER, schema

    model = load_model(tflite)
    graph = model.subgraphs[0]
    ops = graph.operators[start:stop]
    written = {int(t) for op in ops for t in op.outputs}
    used = sorted({int(t) for op in ops for t in [*op.inputs, *op.outputs] if int(t) >= 0})
    new_index = {old: new for new, old in enumerate(used)}
    buffers = [_AlignedBufferT()]
    tensors, inputs = [], []
    for old in used:
        tensor = graph.tensors[old]
        data = model.buffers[tensor.buffer].data
        if data is not None and len(data) > 0:
            buffer = _AlignedBufferT()
            buffer.data = bytes(np.asarray(data, dtype=np.uint8))
            buffers.append(buffer)
            tensor.buffer = len(buffers) - 1
        else:
            tensor.buffer = 0
            if old not in written:
                inputs.append(new_index[old])
        tensors.append(tensor)
    for op in ops:
        op.inputs = [new_index[int(t)] if int(t) >= 0 else -1 for t in op.inputs]
        op.outputs = [new_index[int(t)] for t in op.outputs]
    graph.tensors, graph.operators, graph.inputs = tensors, ops, inputs
    graph.outputs = list(ops[-1].outputs)
    model.buffers = buffers
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = SIGNATURE_KEY, 0
    signature.inputs = [_tensor_map(tensors, i) for i in graph.inputs]
    signature.outputs = [_tensor_map(tensors, i) for i in graph.outputs]
    model.signatureDefs = [signature]
    model.metadata, model.metadataBuffer = None, None
    builder = flatbuffers.Builder(1024 + sum(len(b.data or b"") + 16 for b in buffers))
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _tensor_map(tensors: list, index: int) -> object:
    from latency_tables.tflite_schema import schema

    entry = schema.TensorMapT()
    entry.name, entry.tensorIndex = tensors[index].name, index
    return entry


# ---- measuring -----------------------------------------------------------------------


def measure_shuffled(backend: object, items: list[tuple[str, str, bytes]], seed: int, batch: int,
                     what: str) -> dict[str, dict[str, float]]:
    """kind -> key -> median, every item measured by `backend`, in shuffled order."""
    random.Random(seed).shuffle(items)
    out: dict[str, dict[str, float]] = {}
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        results = backend.measure_many([m for _, _, m in chunk])
        for (kind, key, _), result in zip(chunk, results):
            if not result.ok:
                raise RuntimeError(f"{what}: {kind} {key} failed: {result.error}")
            out.setdefault(kind, {})[key] = result.median
        done = start + len(chunk)
        if done % 50 < len(chunk) or done == len(items):
            log(f"  {what}: {done}/{len(items)} measured, {time.perf_counter() - started:.0f} s")
    return out


def measure_in_fresh_process(name: str, models: list[bytes]) -> list[float]:
    """Whole-model medians from a new agent process (its own start-up reference baseline)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_measure_models, (name, models))


def _measure_models(name: str, models: list[bytes]) -> list[float]:
    from device_agent.backends import get_backend

    results = get_backend(name, threads=1).measure_many(models)
    failed = [r.error for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{name}: {failed[0]}")
    return [r.median for r in results]


def collect(args: argparse.Namespace, backends: list[str]) -> Data:
    """Build the models and measure them on each backend; saved after each (--save)."""
    from device_agent.backends import get_backend
    from latency_tables import LayerSignature, build_single_op_model

    t0 = time.perf_counter()
    cases, distinct, models, header = build_cases(args.variants, args.seed, args.min_keep, args.dtype)
    header[0] = f"{header[0]}; {time.perf_counter() - t0:.1f} s in all"
    layer_models = {d: build_single_op_model(s) for d, s in distinct.items()}
    probe = build_single_op_model(LayerSignature(op="ADD", inputs=[(1, 1), (1, 1)], output=(1, 1), dtype=args.dtype))
    ops = sum(len(c.digests) for c in cases)
    header.insert(0, f"{len(cases)} models ({len(ZOO_SPECS)} zoo + {args.variants} random variants each, "
                  f"{args.min_keep:.0%}-100% of each group's channels, seed {args.seed}), {args.dtype}: "
                  f"{ops} ops, {len(distinct)} distinct layer signatures, {len(models['pairs'])} distinct "
                  f"connected op pairs")
    data = Data(cases=cases, header=header)
    for name in backends:
        experiments = name == LATENCY and args.experiments
        items = [("layer", d, m) for d, m in layer_models.items()]
        items += [("model", c.label, models["tflites"][c.label]) for c in cases]
        items += [("probe", OVERHEAD_PROBE, probe)]
        if experiments:
            items += [("pair", k, m) for k, m in models["pairs"].items()]
        started = time.perf_counter()
        found = measure_shuffled(get_backend(name, threads=1), items, args.seed, args.batch if name == INSTRUCTIONS else 1,
                                 name)
        data.seconds[name] = time.perf_counter() - started
        data.entries[name] = found["layer"]
        data.probe[name] = found["probe"][OVERHEAD_PROBE]
        for case in cases:
            case.measured[name] = found["model"][case.label]
        data.pairs.update(found.get("pair", {}))
        if name == LATENCY:
            for r in range(args.repeats):
                started = time.perf_counter()
                medians = measure_in_fresh_process(name, [models["tflites"][c.label] for c in cases])
                for case, value in zip(cases, medians):
                    case.repeats.setdefault(name, []).append(value)
                log(f"  {name}: whole models re-measured in fresh process {r + 1}/{args.repeats}, "
                    f"{time.perf_counter() - started:.0f} s")
        if experiments:
            from device_agent.backends.host_latency import HostLatencyBackend, TimingPlan

            started = time.perf_counter()
            cold = HostLatencyBackend(plan=TimingPlan(flush_bytes=COLD_FLUSH_BYTES, max_invokes=200, rounds=5))
            found = measure_shuffled(cold, [("layer", d, m) for d, m in layer_models.items()], args.seed, 1,
                                     f"{name} cold cache")
            data.cold = found["layer"]
            data.seconds["cold"] = time.perf_counter() - started
        if args.save:
            data.save(args.save)
    return data


# ---- analysis ------------------------------------------------------------------------


def observations(data: Data, name: str, entries: dict[str, float], pairs: dict[str, float] | None = None,
                 fusion_overhead: float = 0.0) -> list:
    """One calibration.Observation per case, from `entries` (and fused pairs, if given)."""
    from latency_tables import calibration

    out = []
    for case in data.cases:
        layers = [calibration.Layer(op, entries[d], w) for d, op, w in zip(case.digests, case.ops, case.weights)]
        if pairs:
            layers = fuse_pairs(case, entries, pairs, layers, fusion_overhead)
        out.append(calibration.Observation(
            features=calibration.model_features(layers, data.probe[name]), measured=case.measured[name],
            family=case.family))
    return out


def fused(t1: float, t2: float, t12: float, overhead: float = 0.0) -> bool:
    """nn-Meter's test, on times less the per-invoke overhead that each one- or two-op
    model pays once (else every pair of tiny ops looks fused: the pair saves one invoke)."""
    t1, t2, t12 = t1 - overhead, t2 - overhead, t12 - overhead
    return t1 + t2 - t12 > FUSED_FRACTION * min(t1, t2)


def fuse_pairs(case: Case, entries: dict[str, float], pairs: dict[str, float], layers: list,
               overhead: float = 0.0) -> list:
    """`layers` with each fused pair (left to right, no overlaps) as one entry: its T12."""
    from latency_tables import calibration

    connected = set(case.pairs)
    out, i = [], 0
    while i < len(layers):
        if i + 1 < len(layers):
            key = f"{case.digests[i]}|{case.digests[i + 1]}"
            t12 = pairs.get(key)
            if key in connected and t12 is not None and fused(
                entries[case.digests[i]], entries[case.digests[i + 1]], t12, overhead
            ):
                a, b = layers[i], layers[i + 1]
                out.append(calibration.Layer(f"{a.op}+{b.op}", t12, a.weight_bytes + b.weight_bytes))
                i += 2
                continue
        out.append(layers[i])
        i += 1
    return out


def error_line(tag: str, errors: Sequence[float], unit: str) -> str:
    absr = [abs(e) for e in errors]
    if unit == "instr":
        return (f"{tag:<58} max |error| {max(absr):.3%}, median {statistics.median(absr):.3%}; "
                f"within 1%: {sum(a <= 0.01 for a in absr)}/{len(absr)}")
    w10, w5 = sum(a <= 0.10 for a in absr), sum(a <= 0.05 for a in absr)
    return (f"{tag:<58} median |error| {statistics.median(absr):5.1%}, max {max(absr):6.1%}; within +-10%: "
            f"{w10}/{len(absr)} ({w10 / len(absr):.0%}), within +-5%: {w5}/{len(absr)} ({w5 / len(absr):.0%})")


def held_out_errors(obs: list, fit: Callable[[list], object], family: bool) -> list[float]:
    from latency_tables import calibration

    splits = calibration.leave_family_out(obs) if family else calibration.leave_one_out(obs)
    return [fit(train).predict(test.features, test.family) / test.measured - 1 for train, test in splits]


def report(data: Data, name: str, show_models: bool) -> None:
    from latency_tables import calibration

    unit = "instr" if name == INSTRUCTIONS else "ms"
    fmt = (lambda v: f"{v:,.0f}") if unit == "instr" else (lambda v: f"{v:.4f}")
    entries = data.entries[name]
    cases = data.cases
    print(f"\n=== {name} ({unit}; {len(entries)} entries, {len(cases)} whole models, {data.seconds[name]:.0f} s "
          f"in one process; overhead probe {OVERHEAD_PROBE} = {fmt(data.probe[name])} {unit}) ===")
    obs = observations(data, name, entries)
    plain = [calibration.model_features([calibration.Layer(op, entries[d], 0) for d, op in zip(c.digests, c.ops)], 0.0)
             for c in cases]
    ratios = [c.measured[name] / f.raw_sum for c, f in zip(cases, plain)]
    print(f"measured/raw-sum ratio over all models: median {statistics.median(ratios):.4f}, "
          f"min {min(ratios):.4f}, max {max(ratios):.4f}")

    if show_models:
        full = calibration.fit(obs)
        print(f"{'model':<16} {'kept':>5} {'ops':>4} {'MiB':>6} {'measured':>12} {'ratio':>7} {'in-sample fit':>14}")
        for c, o, r in zip(cases, obs, ratios):
            print(f"{c.label:<16} {c.kept:>5.0%} {len(c.digests):>4} {o.features.weight_bytes / 2**20:>6.2f} "
                  f"{fmt(c.measured[name]):>12} {r:>7.3f} {full.predict(o.features, None) / o.measured - 1:>+14.2%}")
        print(f"fit on all models: {full.describe()}")

    # before: the single scale on plain sums and on sums with the overhead counted once
    single = lambda train: calibration.fit(train, min_models=math.inf)  # noqa: E731
    plain_obs = [calibration.Observation(f, o.measured, o.family) for f, o in zip(plain, obs)]
    print("--- before: one scale (median measured/raw sum) ---")
    for label, sample in (("plain sum", plain_obs), ("overhead counted once", obs)):
        for family in (False, True):
            how = "leave-family-out" if family else "leave-one-out"
            print(error_line(f"[{label}, {how}]", held_out_errors(sample, single, family), unit))
    print("--- after: latency_tables.calibration (per-op scales + overhead + weight bytes beyond cache, NNLS) ---")
    after = held_out_errors(obs, calibration.fit, True)
    print(error_line("[fit, leave-family-out]", after, unit))
    print(error_line("[fit + family correction, leave-one-out]", held_out_errors(obs, calibration.fit, False), unit))
    no_family = lambda train: calibration.fit(train, min_family=math.inf)  # noqa: E731
    print(error_line("[fit without family correction, leave-one-out]", held_out_errors(obs, no_family, False), unit))

    absr = [abs(e) for e in after]
    if name != LATENCY:
        print(f"goal (leave-family-out, after): max |error| <= 0.3%: {'MET' if max(absr) <= 0.003 else 'NOT MET'}")
        return
    w10, w5 = (sum(a <= w for a in absr) / len(absr) for w in (0.10, 0.05))
    print(f"goal (leave-family-out, after): >= 90% within +-10% and >= 70% within +-5%: "
          f"{'MET' if w10 >= 0.9 and w5 >= 0.7 else 'NOT MET'} ({w10:.0%}, {w5:.0%})")
    repeated = [c for c in cases if c.repeats.get(name)]
    if repeated:
        diffs = [r / c.measured[name] - 1 for c in repeated for r in c.repeats[name]]
        spans = [max([c.measured[name], *c.repeats[name]]) / min([c.measured[name], *c.repeats[name]]) - 1
                 for c in repeated]
        print(f"--- noise floor: {len(repeated)} whole models re-measured in {len(repeated[0].repeats[name])} "
              "fresh agent processes ---")
        print(error_line("[same model, other process vs first]", diffs, unit))
        print(f"{'':<58} max/min - 1 across the processes per model: median {statistics.median(spans):.1%}, "
              f"max {max(spans):.1%}")
    if data.pairs:
        probe = data.probe[name]
        split = [(entries[k.split("|")[0]], entries[k.split("|")[1]], v) for k, v in data.pairs.items()]
        gains = [(t1 + t2 - t12 - probe) / min(t1 - probe, t2 - probe) for t1, t2, t12 in split]
        print(f"--- experiment: nn-Meter fusion test on {len(split)} connected op pairs (T1+T2-T12 > "
              f"{FUSED_FRACTION} min(T1,T2)): {sum(fused(*t) for t in split)} fused on raw times, "
              f"{sum(fused(*t, probe) for t in split)} once the per-invoke overhead is taken off each; "
              f"(T1+T2-T12)/min(T1,T2) median {statistics.median(gains):.2f} ---")
        for label, overhead in (("raw times", 0.0), ("less overhead", probe)):
            fused_counts = Counter(layer.op for case in cases for layer in fuse_pairs(
                case, entries, data.pairs, [calibration.Layer(op, entries[d]) for d, op in zip(case.digests, case.ops)],
                overhead) if "+" in layer.op)
            print(f"fused pairs ({label}) used in the models: {sum(fused_counts.values())}, most: "
                  f"{dict(fused_counts.most_common(4))}")
            fobs = observations(data, name, entries, data.pairs, overhead)
            print(error_line(f"[fused ({label}), single scale, leave-family-out]",
                             held_out_errors(fobs, single, True), unit))
            print(error_line(f"[fused ({label}), fit, leave-family-out]",
                             held_out_errors(fobs, calibration.fit, True), unit))
    if data.cold:
        cobs = observations(data, name, data.cold)
        cold_ratio = statistics.median(data.cold[d] / entries[d] for d in data.cold)
        craw = [o.features.raw_sum for o in cobs]
        print(f"--- experiment: lone layers with a cold cache ({COLD_FLUSH_BYTES >> 20} MiB written between "
              f"invokes): cold/hot per layer median {cold_ratio:.2f}; measured/raw-sum median "
              f"{statistics.median(c.measured[name] / r for c, r in zip(cases, craw)):.3f} ---")
        print(error_line("[cold entries, single scale, leave-family-out]", held_out_errors(cobs, single, True), unit))
        print(error_line("[cold entries, fit, leave-family-out]", held_out_errors(cobs, calibration.fit, True), unit))
        print(error_line("[cold entries, fit + family, leave-one-out]", held_out_errors(cobs, calibration.fit, False),
                         unit))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=f"{INSTRUCTIONS},{LATENCY}")
    parser.add_argument("--variants", type=int, default=3, help="random pruned variants per zoo model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-keep", type=float, default=0.25, help="least share of a group's channels kept")
    parser.add_argument("--dtype", default="float32", choices=["float32", "int8"])
    parser.add_argument("--batch", type=int, default=80, help="models per valgrind process (host-instructions)")
    parser.add_argument("--repeats", type=int, default=2, help="fresh processes re-measuring the whole models")
    parser.add_argument("--no-experiments", dest="experiments", action="store_false",
                        help="skip the fusion and cold-cache experiments")
    parser.add_argument("--models", action="store_true", help="print every model's measurement and fit")
    parser.add_argument("--save", help="write the measurements to this JSON file")
    parser.add_argument("--load", help="analyse measurements saved with --save instead of measuring")
    args = parser.parse_args()
    wall = time.perf_counter()
    if args.load:
        data = Data.load(args.load)
        backends = list(data.entries)
    else:
        backends = [b.strip() for b in args.backends.split(",") if b.strip()]
        data = collect(args, backends)
    for line in data.header:
        print(line)
    for name in backends:
        report(data, name, args.models)
    print(f"\ntotal wall time {time.perf_counter() - wall:.0f} s")


if __name__ == "__main__":
    main()
