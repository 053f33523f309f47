"""Models built from signatures reproduce what the TFLiteConverter emits for Keras layers.

For each zoo (see keras_zoo.py) and dtype: convert once, read every operator's
signature, build a one-op model from it, and check the rebuilt model has the same
op, shapes, dtype and options (its signature), the same op version, runs in LiteRT,
and is delegated to XNNPACK exactly when the converter's op is.

int8 zoos are converted with int8 inputs and outputs, the setting that matches the
one-op models the builder makes; QUANTIZE/DEQUANTIZE (float io) have their own test.
"""

from __future__ import annotations

import collections

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from latency_tables import LayerSignature, build_single_op_model, op_versions, signatures_from_tflite  # noqa: E402
from latency_tables.tflite_model import load_model, tensor_dtypes  # noqa: E402
from tests.latency_tables import keras_zoo  # noqa: E402
from tests.latency_tables.litert_runner import invoke_once  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:Statistics for quantized inputs were expected:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated:UserWarning"),
]

ZOO_CASES = [
    pytest.param("core", "float32", id="core-float32"),
    pytest.param("core", "int8", id="core-int8"),
    pytest.param("version_features", "float32", id="version_features-float32"),
    pytest.param("version_features", "int8", id="version_features-int8"),
    pytest.param("extended", "float32", id="extended-float32", marks=pytest.mark.slow),
    pytest.param("extended", "int8", id="extended-int8", marks=pytest.mark.slow),
    pytest.param("operations", "float32", id="operations-float32"),
    pytest.param("operations", "int8", id="operations-int8"),
]


class ConvertedZoo:
    def __init__(self, zoo: str, dtype: str) -> None:
        self.dtype = dtype
        self.model = keras_zoo.convert(keras_zoo.zoo_model(keras_zoo.ZOOS[zoo]()), dtype)
        self.signatures = signatures_from_tflite(self.model)
        self.rebuilt = [build_single_op_model(sig) for sig in self.signatures]


_converted: dict[tuple[str, str], ConvertedZoo] = {}


@pytest.fixture(scope="module")
def converted():
    """Convert each (zoo, dtype) at most once per test module run."""

    def get(zoo: str, dtype: str) -> ConvertedZoo:
        if (zoo, dtype) not in _converted:
            _converted[(zoo, dtype)] = ConvertedZoo(zoo, dtype)
        return _converted[(zoo, dtype)]

    yield get
    _converted.clear()


@pytest.mark.parametrize("zoo, dtype", ZOO_CASES)
def test_rebuilt_models_read_back_as_the_converters_signature(converted, zoo: str, dtype: str) -> None:
    case = converted(zoo, dtype)
    assert case.signatures, "the converter emitted no operators"
    assert {sig.dtype for sig in case.signatures} == {dtype}
    mismatches = []
    for sig, model in zip(case.signatures, case.rebuilt):
        read_back = signatures_from_tflite(model)
        if read_back != [sig]:
            mismatches.append(f"{sig.key}\n  rebuilt as {[s.key for s in read_back]}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("zoo, dtype", ZOO_CASES)
def test_rebuilt_models_run_in_litert(converted, zoo: str, dtype: str) -> None:
    case = converted(zoo, dtype)
    expected_type = np.int8 if dtype == "int8" else np.float32
    for sig, model in zip(case.signatures, case.rebuilt):
        (output,) = invoke_once(model)
        assert output.dtype == expected_type, sig.key
        assert output.shape == sig.output, sig.key
        assert np.isfinite(output.astype(np.float64)).all(), sig.key


@pytest.mark.parametrize("zoo, dtype", ZOO_CASES)
def test_op_versions_match_the_converters(converted, zoo: str, dtype: str) -> None:
    # An OperatorCode's version is the highest its operators need, so compare the
    # highest version per op type.
    def highest(pairs):
        result = collections.defaultdict(int)
        for name, version in pairs:
            result[name] = max(result[name], version)
        return dict(result)

    case = converted(zoo, dtype)
    rebuilt = highest(pair for model in case.rebuilt for pair in op_versions(model))
    assert rebuilt == highest(op_versions(case.model))


def _delegated_outputs(model: bytes) -> set[int]:
    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    return {
        int(t) for op in interpreter._get_ops_details() if op["op_name"] == "DELEGATE" for t in op["outputs"]
    }


@pytest.mark.parametrize("zoo, dtype", ZOO_CASES)
def test_xnnpack_delegation_matches_the_converters(converted, zoo: str, dtype: str) -> None:
    # Whether XNNPACK takes an op decides its cost more than anything else. An op whose
    # output is a graph output is delegated iff a DELEGATE node produces that output.
    case = converted(zoo, dtype)
    subgraph = load_model(case.model).subgraphs[0]
    graph_outputs = {int(t) for t in subgraph.outputs}
    delegated_in_converted = _delegated_outputs(case.model)
    checked, differences = 0, []
    for operator, sig, model in zip(subgraph.operators, case.signatures, case.rebuilt):
        output = int(operator.outputs[0])
        if output not in graph_outputs:
            continue
        checked += 1
        converted_delegated = output in delegated_in_converted
        rebuilt_delegated = bool(_delegated_outputs(model))
        if converted_delegated != rebuilt_delegated:
            differences.append(f"{sig.key}: converter {converted_delegated}, rebuilt {rebuilt_delegated}")
    assert checked >= len(keras_zoo.ZOOS[zoo]()) // 2
    assert not differences, "\n".join(differences)


def _has(signatures: list[LayerSignature], op: str, **options) -> bool:
    return any(s.op == op and all(getattr(s, k) == v for k, v in options.items()) for s in signatures)


def test_core_layers_become_the_expected_ops(converted) -> None:
    sigs = converted("core", "float32").signatures
    # BN and ReLU/ReLU6 fold into the convolution
    assert _has(sigs, "CONV_2D", kernel=(3, 3), stride=(1, 1), padding="SAME", activation="RELU")
    assert _has(sigs, "CONV_2D", kernel=(3, 3), stride=(2, 2), padding="VALID", activation="RELU6")
    assert _has(sigs, "CONV_2D", kernel=(1, 1), stride=(1, 1), activation="NONE")
    assert _has(sigs, "CONV_2D", kernel=(1, 1), stride=(2, 2), padding="SAME", activation="RELU")
    assert _has(sigs, "DEPTHWISE_CONV_2D", stride=(1, 1), activation="RELU6", depth_multiplier=1)
    assert _has(sigs, "DEPTHWISE_CONV_2D", stride=(2, 2), padding="VALID", depth_multiplier=2)
    # Dense + BN is one FULLY_CONNECTED; softmax stays a separate op
    assert _has(sigs, "FULLY_CONNECTED", inputs=((1, 32),), output=(1, 10), activation="NONE")
    assert _has(sigs, "FULLY_CONNECTED", inputs=((1, 32),), output=(1, 16), activation="RELU")
    assert _has(sigs, "SOFTMAX", inputs=((1, 16),))
    assert _has(sigs, "MAX_POOL_2D", kernel=(2, 2), stride=(2, 2), padding="VALID")
    assert _has(sigs, "AVERAGE_POOL_2D", kernel=(3, 3), stride=(2, 2), padding="SAME")
    assert _has(sigs, "MEAN", axis=(1, 2), keep_dims=False, output=(1, 8))  # GlobalAveragePooling2D
    assert _has(sigs, "ADD", inputs=((1, 16, 16, 8), (1, 16, 16, 8)))
    assert _has(sigs, "CONCATENATION", axis=(3,), output=(1, 16, 16, 16))
    assert _has(sigs, "PAD", paddings=((0, 0), (1, 1), (1, 1), (0, 0)))
    assert _has(sigs, "TRANSPOSE_CONV", kernel=(3, 3), stride=(2, 2), padding="SAME", output=(1, 32, 32, 8))
    assert _has(sigs, "RESHAPE", inputs=((1, 4, 4, 16),), output=(1, 256))  # Flatten, static batch
    assert _has(sigs, "RESHAPE", inputs=((1, 4, 4, 16),), output=(1, 16, 16))
    assert len(sigs) == len(keras_zoo.core_branches()) + 1  # + the Softmax after Dense


def test_int8_with_float_io_has_quantize_and_dequantize_signatures() -> None:
    branches = keras_zoo.branches_named("conv3x3_bn_relu", "concatenate")
    model = keras_zoo.convert(keras_zoo.zoo_model(branches), "int8", int8_io=False)
    sigs = signatures_from_tflite(model)
    counts = collections.Counter((s.op, s.dtype) for s in sigs)
    assert counts[("QUANTIZE", "float32")] == 3  # one per float input
    assert counts[("DEQUANTIZE", "int8")] == 2  # one per output
    assert counts[("CONV_2D", "int8")] == 1 and counts[("CONCATENATION", "int8")] == 1
    for sig in sigs:
        rebuilt = build_single_op_model(sig)
        assert signatures_from_tflite(rebuilt) == [sig]
        if sig.op in ("QUANTIZE", "DEQUANTIZE"):
            assert tensor_dtypes(rebuilt) == [t for t in tensor_dtypes(model) if t[0] == sig.op][:1]


def test_dynamic_batch_shape_arithmetic_is_reported_or_skipped() -> None:
    branches = keras_zoo.branches_named("flatten", "conv_transpose_s2_same")
    model = keras_zoo.convert(keras_zoo.zoo_model(branches, batch=None), "float32")
    with pytest.raises(ValueError, match="fixed batch size"):
        signatures_from_tflite(model)
    sigs = signatures_from_tflite(model, skip_shape_arithmetic=True)
    assert sorted(s.op for s in sigs) == ["RESHAPE", "TRANSPOSE_CONV"]
    for sig in sigs:
        assert sig.inputs[0][0] == 1  # shapes hold the batch of 1 the converter assumes
        assert signatures_from_tflite(build_single_op_model(sig)) == [sig]


# ---- whole models: pruned keras.applications with keras.ops operation nodes -------------

# MobileNetV3Large lowers to the same kinds of ops as the Small one (tests/costs derives
# its signatures); converting it again here would add half a minute.
APPLICATIONS = [
    pytest.param("MobileNetV3Small", "float32", id="MobileNetV3Small-float32"),
    pytest.param("MobileNetV3Small", "int8", id="MobileNetV3Small-int8"),
    pytest.param("EfficientNetV2B0", "float32", id="EfficientNetV2B0-float32"),
]


@pytest.mark.parametrize("name, dtype", APPLICATIONS)
def test_pruned_keras_applications_rebuild_op_by_op(name: str, dtype: str) -> None:
    """Every op of a pruned MobileNetV3 / EfficientNetV2B0, as the device export converts
    it, rebuilds as a one-op model with the same signature and op version, and runs."""
    import keras

    from service.costs.device_export import to_device_tflite
    from service.surgery import analyze, prune

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(input_shape=(32, 32, 3), weights=None, classes=10)
    graph = analyze(model)
    rng = np.random.default_rng(0)
    keep = {g.id: sorted(rng.choice(g.channels, max(1, g.channels // 2), replace=False)) for g in graph.prunable_groups}
    converted = to_device_tflite(prune(model, keep, graph), dtype)
    signatures = signatures_from_tflite(converted)
    distinct = list(dict.fromkeys(signatures))
    rebuilt = [build_single_op_model(sig) for sig in distinct]
    mismatches = [sig.key for sig, built in zip(distinct, rebuilt) if signatures_from_tflite(built) != [sig]]
    assert not mismatches, "\n".join(mismatches)
    expected_type = np.int8 if dtype == "int8" else np.float32
    for sig, built in zip(distinct, rebuilt):
        (output,) = invoke_once(built)
        assert output.dtype == expected_type and output.shape == sig.output, sig.key

    def highest(pairs):
        result = collections.defaultdict(int)
        for op, version in pairs:
            result[op] = max(result[op], version)
        return dict(result)

    assert highest(pair for built in rebuilt for pair in op_versions(built)) == highest(op_versions(converted))
