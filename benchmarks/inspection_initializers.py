"""Loading an uploaded model with and without running its initializers, side by side.

The upload inspection child loads every model with load_keras_file. Building the layers
runs each weight's initializer before the file's weights overwrite the result; this
prints, per model, the load time (and the child's peak address space) with Keras'
initializers and with the counting zero fill the inspection child uses instead
(service.uploads.inspect_worker.counting_zero_initializers). Each load runs in a fresh
process with the inspection child's environment (one thread per pool); the time is the
load alone, TensorFlow's import excluded. Median of --repeats.

    python benchmarks/inspection_initializers.py [--repeats 3] [--skip-hostile]

Models: the digits CNN, keras.applications MobileNetV2 (224x224x3, untrained), and a
12 kB hostile file whose config declares Input(9216) -> Dense(9216, orthogonal kernel)
with a 16x16 kernel in its weights (it can never load; the question is how long it takes
to say so).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("initializers", "counting_zeros")
# The hostile file is the one the upload tests send (tests/uploads/builders.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _child(mode: str, path: str) -> None:
    from service.pruning.offline_run import RunInputError, load_keras_file
    from service.quiet_tf import import_tensorflow_quietly
    from service.uploads.inspect_worker import ParameterBudget, counting_zero_initializers

    import_tensorflow_quietly()
    import keras  # noqa: F401  (imported before the clock starts)

    start = time.perf_counter()
    outcome = "loaded"
    try:
        if mode == "counting_zeros":
            with counting_zero_initializers(ParameterBudget(None)):
                load_keras_file(Path(path))
        else:
            load_keras_file(Path(path))
    except RunInputError as exc:
        outcome = "refused: " + str(exc)[:80]
    seconds = time.perf_counter() - start
    peak_kib = next(
        int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmPeak")
    )
    print(json.dumps({"seconds": seconds, "vm_peak_mib": peak_kib / 1024, "outcome": outcome}))


def _measure(mode: str, path: Path) -> dict:
    from service.uploads.inspection import WORKER_ENVIRONMENT

    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        env={**os.environ, **WORKER_ENVIRONMENT}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-hostile", action="store_true", help="leave out the ~100 s hostile load")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    import keras

    from service.zoo import digits_cnn
    from tests.uploads.builders import orthogonal_giant_model, saved

    models = {
        "digits CNN": saved(digits_cnn()),
        "MobileNetV2 224": saved(keras.applications.MobileNetV2(weights=None)),
    }
    if not args.skip_hostile:
        models["hostile Dense(9216) orthogonal"] = orthogonal_giant_model()
    print(f"{'model':34} {'file':>9} | " + " | ".join(f"{mode:>34}" for mode in MODES) + " | ratio")
    with tempfile.TemporaryDirectory() as scratch:
        for name, data in models.items():
            path = Path(scratch) / "model.keras"
            path.write_bytes(data)
            medians, cells = {}, []
            for mode in MODES:
                runs = [_measure(mode, path) for _ in range(args.repeats)]
                medians[mode] = statistics.median(run["seconds"] for run in runs)
                peak = max(run["vm_peak_mib"] for run in runs)
                cells.append(f"{medians[mode]:8.2f} s, VmPeak {peak:6.0f} MiB, {runs[0]['outcome'][:7]}")
            ratio = medians["initializers"] / medians["counting_zeros"]
            print(f"{name:34} {len(data) / 1024:7.0f}kB | " + " | ".join(f"{c:>34}" for c in cells) + f" | {ratio:5.1f}x")


if __name__ == "__main__":
    main()
