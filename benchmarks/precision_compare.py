"""float32 vs int8 for one zoo model: what a run at each precision ships and measures.

The model (default: the demo's VGG-style net on the digits at 32x32, trained here for
--epochs) is converted the way runs write their .tflite artifacts
(service.pruning.run_tflite: batch 1; int8 full-integer with int8 inputs and outputs,
calibrated on the training split) and, side by side in one process:

- test accuracy: the Keras model, and each .tflite run with LiteRT on the test split;
- file size of each .tflite;
- host latency: both files measured whole by the host-latency backend in one batch
  (LiteRT, XNNPACK, one pinned core; median of normalised rounds; note this host has AMX,
  which makes int8 unusually fast: MEASUREMENT_NOTES.md);
- instructions per invoke on an emulated Cortex-A53 (qemu-aarch64 backend; needs
  `netadapt-agent setup-arm`), and under callgrind on this host.

    python benchmarks/precision_compare.py [--model vgg] [--epochs 8] [--arm-dir DIR] [--no-arm]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg", help="a service.zoo model (default vgg, the demo's)")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs on the digits (default 8, the demo's)")
    parser.add_argument("--keras", type=Path, default=None, help="use this trained .keras model instead of training")
    parser.add_argument("--arm-dir", default=None, help="the setup-arm directory (default: its default)")
    parser.add_argument("--no-arm", dest="arm", action="store_false", help="skip the emulated Cortex-A53")
    args = parser.parse_args()

    import keras

    from device_agent.backends import get_backend
    from service.cli.demo_cmd import DEMO_IMAGE_SIZE
    from service.cli.zoo_cmd import train_zoo_model
    from service.pruning.data import load_run_data
    from service.pruning.options import DataSpec, TrainingOptions
    from service.pruning.run_tflite import run_tflite
    from service.training.evaluation import evaluate
    from service.training.tflite_inference import tflite_accuracy

    data = DataSpec("digits", DEMO_IMAGE_SIZE, 1)
    path = args.keras
    if path is None:
        path = Path(tempfile.mkdtemp()) / f"{args.model}.keras"
        train_zoo_model(args.model, data, path, epochs=args.epochs, seed=0)
    model = keras.saving.load_model(path, compile=False)
    dataset = load_run_data(data, TrainingOptions().holdout, 0).dataset

    precisions = ("float32", "int8")
    files = {p: run_tflite(model, data, TrainingOptions(precision=p)) for p in precisions}
    rows: dict[str, dict[str, float]] = {p: {} for p in precisions}
    keras_accuracy = evaluate(model, dataset.x_test, dataset.y_test)
    for p in precisions:
        rows[p]["size"] = len(files[p])
        rows[p]["accuracy"] = tflite_accuracy(files[p], dataset.x_test, dataset.y_test)

    backends = [("host ms", lambda: get_backend("host-latency", threads=1)),
                ("host instr", lambda: get_backend("host-instructions"))]
    if args.arm:
        from device_agent.backends.qemu_aarch64 import QemuAarch64Backend

        backends.append(("A53 instr", lambda: QemuAarch64Backend(cpu="cortex-a53", arm_dir=args.arm_dir)))
    for label, make in backends:
        backend = make()
        started = time.perf_counter()
        results = backend.measure_many([files[p] for p in precisions])
        failed = [r.error for r in results if not r.ok]
        if failed:
            raise SystemExit(f"{label}: {failed[0]}")
        for p, result in zip(precisions, results):
            rows[p][label] = result.median
            rows[p][label + " spread"] = result.spread or 0.0
        log(f"  {label}: {time.perf_counter() - started:.1f} s ({backend.describe().profile_key()})")

    print(f"{args.model} on digits {DEMO_IMAGE_SIZE[0]}x{DEMO_IMAGE_SIZE[1]}: Keras test accuracy {keras_accuracy:.2%} "
          f"({len(dataset.x_test)} test images)")
    labels = [label for label, _ in backends]
    print(f"{'precision':<10} {'test acc (LiteRT)':>18} {'file size':>11} " + " ".join(f"{label:>14}" for label in labels))
    for p in precisions:
        values = " ".join(
            f"{rows[p][label]:>14.4f}" if label.endswith("ms") else f"{rows[p][label]:>14,.0f}" for label in labels
        )
        print(f"{p:<10} {rows[p]['accuracy']:>18.2%} {rows[p]['size'] / 1024:>8.1f} KiB {values}")
    ratios = " ".join(f"{rows['float32'][label] / rows['int8'][label]:>14.2f}" for label in labels)
    print(f"{'f32/int8':<10} {'':>18} {rows['float32']['size'] / rows['int8']['size']:>11.2f} {ratios}")
    print("host latency spread (IQR/median): " + ", ".join(f"{p} {rows[p]['host ms spread']:.1%}" for p in precisions))
    return 0


if __name__ == "__main__":
    sys.exit(main())
