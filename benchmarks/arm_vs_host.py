"""Per layer of a zoo model: instructions on an emulated Cortex-A53 and Cortex-A76, and
host latency, with the rank correlations between them.

Does the host tell you which layers are expensive on a phone's core? Each distinct
layer of the model (as the TFLite converter lays it out) is built as a one-op model
and measured with three backends: qemu-aarch64 --cpu cortex-a53, qemu-aarch64 --cpu
cortex-a76 (one emulator process each, exact counts) and host-latency (LiteRT on this
x86 host, XNNPACK, one pinned core). Spearman's rank correlation is printed for each
pair, over all layers and over the layers with weights (conv, depthwise, dense), whose
kernels differ most between cores.

Needs `netadapt-agent setup-arm` first (default directory, or --arm-dir).

    python benchmarks/arm_vs_host.py [--model mobilenet_v1] [--alpha 1.0] [--dtype int8] [--arm-dir DIR]

--dtype int8 converts the model full-integer (int8 inputs and outputs, as runs at precision
int8 do; calibrated on noise, which changes no op or shape) and measures int8 one-op models.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from service.costs.device_export import DEVICE_DTYPES

WEIGHTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their mean rank."""
    order = np.argsort(values, kind="stable")
    ranked = np.empty(len(values))
    ranked[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranked[tied] = ranked[tied].mean()
    return ranked


def spearman(a: list[float], b: list[float]) -> float:
    ra, rb = ranks(np.asarray(a, dtype=float)), ranks(np.asarray(b, dtype=float))
    return float(np.corrcoef(ra, rb)[0, 1])


def describe(signature) -> str:
    inp = "x".join(map(str, signature.inputs[0][1:]))
    out = signature.output[-1] if signature.output else "?"
    kernel = f" k{signature.kernel[0]}x{signature.kernel[1]}" if signature.kernel else ""
    stride = f" s{signature.stride[0]}" if signature.stride and signature.stride != (1, 1) else ""
    return f"{signature.op} {inp}->{out}{kernel}{stride}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v1", help="a service.zoo model (default mobilenet_v1)")
    parser.add_argument("--alpha", type=float, default=None, help="width multiplier, for models that take one")
    parser.add_argument("--arm-dir", default=None, help="the setup-arm directory (default: its default)")
    parser.add_argument("--dtype", default="float32", choices=DEVICE_DTYPES, help="precision of the layers")
    args = parser.parse_args()

    from device_agent.backends import get_backend
    from device_agent.backends.qemu_aarch64 import QemuAarch64Backend
    from latency_tables import build_single_op_model, signatures_from_tflite
    from service.costs.device_export import to_device_tflite
    from service.zoo import build

    kwargs = {"alpha": args.alpha} if args.alpha is not None else {}
    tflite = to_device_tflite(build(args.model, **kwargs), args.dtype)
    signatures = signatures_from_tflite(tflite)
    distinct = list({s.digest: s for s in signatures}.values())
    models = [build_single_op_model(s) for s in distinct]
    log(f"{args.model} {args.dtype}: {len(signatures)} ops, {len(distinct)} distinct layers")

    columns: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    for label, make in (
        ("A53 instr", lambda: QemuAarch64Backend(cpu="cortex-a53", arm_dir=args.arm_dir)),
        ("A76 instr", lambda: QemuAarch64Backend(cpu="cortex-a76", arm_dir=args.arm_dir)),
        ("host ms", lambda: get_backend("host-latency", threads=1)),
    ):
        backend = make()
        started = time.perf_counter()
        results = backend.measure_many(models)
        seconds[label] = time.perf_counter() - started
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise SystemExit(f"{label}: {len(failed)} layers failed, e.g. {failed[0]}")
        columns[label] = [r.median for r in results]
        log(f"  {label}: {len(models)} layers in {seconds[label]:.1f} s ({backend.describe().profile_key()})")

    print(f"{args.model}{' alpha ' + str(args.alpha) if args.alpha else ''} {args.dtype}: per layer "
          "(one-op models; instructions per invoke, host latency median ms)")
    print(f"{'layer':<44} {'A53 instr':>12} {'A76 instr':>12} {'A76/A53':>8} {'host ms':>9}")
    for i, signature in enumerate(distinct):
        a53, a76, host = columns["A53 instr"][i], columns["A76 instr"][i], columns["host ms"][i]
        print(f"{describe(signature):<44} {a53:>12,.0f} {a76:>12,.0f} {a76 / a53:>8.2f} {host:>9.4f}")
    total = {k: sum(v) for k, v in columns.items()}
    print(f"{'sum of distinct layers':<44} {total['A53 instr']:>12,.0f} {total['A76 instr']:>12,.0f} "
          f"{total['A76 instr'] / total['A53 instr']:>8.2f} {total['host ms']:>9.4f}")
    weighted = [i for i, s in enumerate(distinct) if s.op in WEIGHTED_OPS]
    print("\nSpearman rank correlation    all layers   weighted layers (conv/depthwise/dense)")
    for a, b in (("A53 instr", "A76 instr"), ("A53 instr", "host ms"), ("A76 instr", "host ms")):
        sub_a, sub_b = [columns[a][i] for i in weighted], [columns[b][i] for i in weighted]
        print(f"  {a} vs {b:<12} {spearman(columns[a], columns[b]):>12.3f} {spearman(sub_a, sub_b):>12.3f}"
              f"   (n={len(distinct)}, {len(weighted)})")
    print(f"\nmeasuring: {', '.join(f'{k} {v:.1f} s' for k, v in seconds.items())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
