"""Time analyze() and prune() on keras.applications MobileNetV2 at 224x224, and the
lookup-table signatures of one channel configuration (what a measured run's estimator
derives for every candidate filter count).

Prints the median of several repetitions of each step (this machine is shared and
noisy), for half of every prunable group removed; signatures over 50 random
configurations.

    python benchmarks/surgery_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import keras

    from service.surgery import analyze, prune

    t0 = time.perf_counter()
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)

    analyze_s, prune_s = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        graph = analyze(model)
        analyze_s.append(time.perf_counter() - t0)
        keep = {
            g.id: sorted(rng.choice(g.channels, g.channels // 2, replace=False).tolist())
            for g in graph.prunable_groups
        }
        t0 = time.perf_counter()
        pruned = prune(model, keep, graph=graph)
        prune_s.append(time.perf_counter() - t0)

    from service.costs.keras_signatures import signatures_for_config

    signatures_for_config(graph, {})  # first call: the per-graph work is cached
    signature_s = []
    for _ in range(50):
        counts = {g.id: int(rng.integers(1, g.channels + 1)) for g in graph.prunable_groups if rng.random() < 0.75}
        t0 = time.perf_counter()
        signatures_for_config(graph, counts)
        signature_s.append(time.perf_counter() - t0)

    med_a, med_p = statistics.median(analyze_s), statistics.median(prune_s)
    print(f"MobileNetV2 224x224: {len(model.layers)} layers, {len(graph.prunable_groups)} prunable groups")
    print(f"params {model.count_params():,} -> {pruned.count_params():,} (half of every group)")
    print(f"model build (reference)  : {build_s:.2f} s")
    print(f"analyze, median of {args.repeats}   : {med_a:.3f} s")
    print(f"prune, median of {args.repeats}     : {med_p:.3f} s")
    print(f"analyze + prune          : {med_a + med_p:.3f} s")
    print(f"signatures of one configuration ({len(signatures_for_config(graph, {}))} ops), median of 50: "
          f"{statistics.median(signature_s) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
