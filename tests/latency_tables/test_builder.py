"""build_single_op_model and the .tflite reader, without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from latency_tables import (
    BUILDABLE_OPS,
    SUPPORTED_OPS,
    LayerSignature,
    build_single_op_model,
    op_summary,
    op_versions,
    signatures_from_tflite,
)
from latency_tables.tflite_model import load_model, tensor_dtypes
from latency_tables.tflite_schema import schema
from tests.latency_tables.examples import example_signatures
from tests.latency_tables.litert_runner import invoke_once

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = example_signatures("float32") + example_signatures("int8")


def _id(sig: LayerSignature) -> str:
    return f"{sig.op}-{sig.dtype}"


@pytest.fixture(scope="module")
def built() -> dict[LayerSignature, bytes]:
    return {sig: build_single_op_model(sig) for sig in EXAMPLES}


def test_every_supported_op_is_buildable_and_exemplified() -> None:
    assert set(BUILDABLE_OPS) == set(SUPPORTED_OPS)
    assert {s.op for s in EXAMPLES} == set(SUPPORTED_OPS)


@pytest.mark.parametrize("sig", EXAMPLES, ids=_id)
def test_built_model_reads_back_as_its_signature(built, sig: LayerSignature) -> None:
    model = built[sig]
    assert model[4:8] == b"TFL3"
    assert signatures_from_tflite(model) == [sig]
    assert [name for name, _ in op_versions(model)] == [sig.op]


@pytest.mark.parametrize("sig", EXAMPLES, ids=_id)
def test_built_model_runs_in_litert_with_finite_outputs(built, sig: LayerSignature) -> None:
    (output,) = invoke_once(built[sig])
    assert output.shape == sig.output
    output_is_float = sig.op == "DEQUANTIZE" or (sig.dtype == "float32" and sig.op != "QUANTIZE")
    assert output.dtype == (np.float32 if output_is_float else np.int8)
    assert np.isfinite(output.astype(np.float64)).all()


def test_weight_layouts_follow_the_converter() -> None:
    image = (1, 10, 10, 8)
    conv = LayerSignature("CONV_2D", [image], (1, 10, 10, 16), kernel=(3, 5), stride=(1, 1), padding="SAME", groups=2)
    assert op_summary(build_single_op_model(conv))[0].inputs == (image, (16, 3, 5, 4), (16,))  # OHWI
    depthwise = LayerSignature("DEPTHWISE_CONV_2D", [image], (1, 10, 10, 24), kernel=(3, 3), stride=(1, 1), padding="SAME", depth_multiplier=3)
    assert op_summary(build_single_op_model(depthwise))[0].inputs == (image, (1, 3, 3, 24), (24,))  # 1HW(C*m)
    dense = LayerSignature("FULLY_CONNECTED", [(1, 64)], (1, 10))
    assert op_summary(build_single_op_model(dense))[0].inputs == ((1, 64), (10, 64), (10,))  # [out, in]
    transpose = LayerSignature("TRANSPOSE_CONV", [image], (1, 20, 20, 4), kernel=(3, 3), stride=(2, 2), padding="SAME")
    # [output_shape, OHWI filters, input, bias]
    assert op_summary(build_single_op_model(transpose))[0].inputs == ((4,), (4, 3, 3, 8), image, (4,))


def test_int8_quantization_is_per_channel_for_weights_and_per_tensor_for_activations() -> None:
    sig = LayerSignature(
        "DEPTHWISE_CONV_2D", [(1, 8, 8, 16)], (1, 8, 8, 16), kernel=(3, 3), stride=(1, 1), padding="SAME", dtype="int8"
    )
    model = load_model(build_single_op_model(sig))
    tensors = model.subgraphs[0].tensors
    x, weights, bias = (tensors[i] for i in model.subgraphs[0].operators[0].inputs)
    y = tensors[model.subgraphs[0].operators[0].outputs[0]]
    assert len(x.quantization.scale) == 1 and len(y.quantization.scale) == 1
    assert weights.type == schema.TensorType.INT8
    assert len(weights.quantization.scale) == 16 and weights.quantization.quantizedDimension == 3
    assert not np.any(weights.quantization.zeroPoint)
    assert bias.type == schema.TensorType.INT32
    expected_bias_scales = np.float32(x.quantization.scale[0]) * np.asarray(weights.quantization.scale, np.float32)
    np.testing.assert_allclose(bias.quantization.scale, expected_bias_scales, rtol=1e-6)

    conv = load_model(build_single_op_model(LayerSignature(
        "CONV_2D", [(1, 8, 8, 16)], (1, 8, 8, 32), kernel=(1, 1), stride=(1, 1), padding="SAME", dtype="int8"
    )))  # fmt: skip
    conv_weights = conv.subgraphs[0].tensors[conv.subgraphs[0].operators[0].inputs[1]]
    assert len(conv_weights.quantization.scale) == 32 and conv_weights.quantization.quantizedDimension == 0


def test_weights_are_deterministic_in_the_seed_and_never_all_zero() -> None:
    sig = LayerSignature("CONV_2D", [(1, 8, 8, 16)], (1, 8, 8, 32), kernel=(3, 3), stride=(1, 1), padding="SAME", dtype="int8")
    assert build_single_op_model(sig, seed=3) == build_single_op_model(sig, seed=3)
    assert build_single_op_model(sig, seed=3) != build_single_op_model(sig, seed=4)
    model = load_model(build_single_op_model(sig))
    for index in model.subgraphs[0].operators[0].inputs[1:]:
        data = model.buffers[model.subgraphs[0].tensors[index].buffer].data
        assert np.count_nonzero(np.asarray(data)) > 0.5 * len(data)


def test_constant_buffers_are_16_byte_aligned() -> None:
    sig = LayerSignature("FULLY_CONNECTED", [(1, 7)], (1, 3))
    data = build_single_op_model(sig)
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            start = buffer._tab.Vector(buffer._tab.Offset(4))  # position of the data vector
            assert start % 16 == 0


def test_op_codes_above_127_use_the_placeholder_in_the_deprecated_field() -> None:
    model = load_model(build_single_op_model(LayerSignature("GELU", [(1, 8)], (1, 8))))
    (code,) = model.operatorCodes
    assert code.builtinCode == schema.BuiltinOperator.GELU == 150
    assert code.deprecatedBuiltinCode == schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
    hard_swish = load_model(build_single_op_model(LayerSignature("HARD_SWISH", [(1, 8)], (1, 8))))
    assert hard_swish.operatorCodes[0].deprecatedBuiltinCode == hard_swish.operatorCodes[0].builtinCode == 117


def test_signature_def_names_inputs_and_outputs() -> None:
    from ai_edge_litert.interpreter import Interpreter

    sig = LayerSignature("ADD", [(1, 4), (1, 4)], (1, 4))
    interpreter = Interpreter(model_content=build_single_op_model(sig))
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["input_0", "input_1"], "outputs": ["output_0"]}
    }


def test_quantize_and_dequantize_tensor_types() -> None:
    image = (1, 4, 4, 8)
    quantize = build_single_op_model(LayerSignature("QUANTIZE", [image], image))
    requantize = build_single_op_model(LayerSignature("QUANTIZE", [image], image, dtype="int8"))
    dequantize = build_single_op_model(LayerSignature("DEQUANTIZE", [image], image, dtype="int8"))
    assert tensor_dtypes(quantize) == [("QUANTIZE", ("FLOAT32",), "INT8")]
    assert tensor_dtypes(requantize) == [("QUANTIZE", ("INT8",), "INT8")]
    assert tensor_dtypes(dequantize) == [("DEQUANTIZE", ("INT8",), "FLOAT32")]


def test_reader_accepts_paths(tmp_path: Path) -> None:
    sig = example_signatures("float32")[0]
    path = tmp_path / "layer.tflite"
    path.write_bytes(build_single_op_model(sig))
    assert signatures_from_tflite(path) == signatures_from_tflite(str(path)) == [sig]


def test_reader_rejects_non_tflite_and_unsupported_ops() -> None:
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        signatures_from_tflite(b"\x00" * 64)
    model = load_model(build_single_op_model(LayerSignature("RELU", [(1, 8)], (1, 8))))
    model.operatorCodes[0].builtinCode = model.operatorCodes[0].deprecatedBuiltinCode = schema.BuiltinOperator.NEG
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with pytest.raises(ValueError, match=r"operator #0 \(NEG\): op is not supported"):
        signatures_from_tflite(bytes(builder.Output()))
    assert op_summary(bytes(builder.Output())) == [("NEG", ((1, 8),), (1, 8))]


def test_build_rejects_non_signatures() -> None:
    with pytest.raises(TypeError):
        build_single_op_model({"op": "RELU"})  # type: ignore[arg-type]


def test_latency_tables_does_not_import_tensorflow() -> None:
    code = (
        "import sys, latency_tables, latency_tables.builder, latency_tables.tflite_model; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'fastapi', 'service')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
