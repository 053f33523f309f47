"""The Arm setup from scratch, and what its counts are worth: repeatable and additive.

One module-scoped setup in a fresh directory (root filesystem from Debian packages,
aarch64 wheels from PyPI, plugin header from Debian's qemu source, plugin compiled);
then a second setup that must be all cached; then counts on an emulated Cortex-A53.
Needs what scripts/system_deps/arm.sh installs (qemu-user, gcc, debian-archive-keyring)
and the Debian and PyPI registries.
"""

from __future__ import annotations

import time

import pytest

from device_agent.arm.setup import ArmLayout, ArmSetup, SetupError
from device_agent.backends.qemu_aarch64 import QemuAarch64Backend
from latency_tables import LayerSignature, build_single_op_model

pytestmark = pytest.mark.slow

CONV = LayerSignature(
    op="CONV_2D", inputs=[(1, 16, 16, 32)], output=(1, 16, 16, 64), kernel=(3, 3), stride=(1, 1), padding="SAME",
    dtype="float32",
)


@pytest.fixture(scope="module")
def arm_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("arm")
    started = time.monotonic()
    cold = ArmSetup(root).run()
    cold_seconds = time.monotonic() - started
    started = time.monotonic()
    warm = ArmSetup(root).run()
    warm_seconds = time.monotonic() - started
    print(f"\nsetup-arm cold {cold_seconds:.1f} s, cached {warm_seconds:.1f} s")
    print("\n".join(cold.lines()))
    assert not any(step.cached for step in cold.steps), cold.lines()
    assert all(step.cached for step in warm.steps), warm.lines()
    return root


def test_backend_refuses_an_unbuilt_directory(tmp_path):
    with pytest.raises(SetupError, match="setup-arm --dir"):
        ArmLayout(tmp_path).check("cortex-a53")
    with pytest.raises(RuntimeError, match="not ready"):
        QemuAarch64Backend(arm_dir=tmp_path)


def test_conv_layer_counted_twice_identically(arm_dir):
    backend = QemuAarch64Backend(cpu="cortex-a53", arm_dir=arm_dir)
    model = build_single_op_model(CONV)
    first = backend.measure_many([model])[0]  # one process
    second, third = backend.measure_many([model, model])  # another process, two interpreters
    for result in (first, second, third):
        assert result.ok, result.error
    counts = [first.median, second.median, third.median]
    print(f"\nconv 16x16x32->64 on cortex-a53: {counts}")
    assert max(counts) - min(counts) <= 1e-4 * max(counts), counts
    assert first.details["marker_overhead"] > 0 and first.n == 2


def test_cores_run_different_kernels(arm_dir):
    model = build_single_op_model(CONV)
    a53 = QemuAarch64Backend(cpu="cortex-a53", arm_dir=arm_dir).measure(model)
    a76 = QemuAarch64Backend(cpu="cortex-a76", arm_dir=arm_dir).measure(model)
    assert a53.ok and a76.ok, (a53.error, a76.error)
    # MEASUREMENT_NOTES: conv3x3 float32 62 M on A53, 38 M on A76 (dot-product, fp16 ISA, other GEMM tiles).
    assert a76.median < 0.9 * a53.median, (a53.median, a76.median)


def test_layer_counts_add_up_to_the_whole_mobilenet_v1(arm_dir):
    from latency_tables import signatures_from_tflite
    from latency_tables.estimator import overhead_signature, table_sum
    from service.costs.device_export import to_device_tflite
    from service.zoo import build

    whole = to_device_tflite(build("mobilenet_v1"))
    signatures = signatures_from_tflite(whole)
    distinct = {s.digest: s for s in signatures}
    layers = {digest: build_single_op_model(s) for digest, s in distinct.items()}
    backend = QemuAarch64Backend(cpu="cortex-a53", arm_dir=arm_dir)
    results = backend.measure_many([whole, build_single_op_model(overhead_signature()), *layers.values()])
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    whole_count, overhead = results[0].median, results[1].median
    per_digest = {digest: r.median for digest, r in zip(layers, results[2:])}
    entries = [per_digest[s.digest] for s in signatures]
    plain, once = table_sum(entries) / whole_count, table_sum(entries, overhead) / whole_count
    print(f"\nmobilenet_v1 on cortex-a53: {len(signatures)} ops ({len(distinct)} distinct), whole {whole_count:,.0f}, "
          f"sum of layers / whole {plain:.4f}, with the per-invoke overhead ({overhead:,.0f}) counted once "
          f"{once:.4f}; {len(results)} models in {results[0].details['batch_seconds']} s")
    assert abs(plain - 1) < 0.01, plain
    assert abs(once - 1) < 0.005, once


def test_int8_layers_count_like_the_converters_on_a53(arm_dir):
    """int8 one-op models built from signatures (per-channel weight scales) run the same
    Arm kernels as the converter's int8 model of the same Keras layer."""
    from tests.device_agent.test_builder_count_parity import converted_and_built

    converted, built = converted_and_built("int8")
    results = QemuAarch64Backend(cpu="cortex-a53", arm_dir=arm_dir).measure_many(converted + built)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    half = len(converted)
    for theirs, ours in zip(results[:half], results[half:]):
        # Two interpreters of one model differ by ~100 instructions (buffer addresses), which
        # is 1e-4 of a convolution but 2e-3 of the 55k-instruction dense layer.
        assert abs(ours.median - theirs.median) <= max(1e-4 * theirs.median, 200), (ours.median, theirs.median)
