"""to_device_tflite: batch 1, int8 end to end, quiet, and clear about bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from latency_tables.tflite_model import load_model, signatures_from_tflite, tensor_dtypes
from service.costs.device_export import to_device_tflite
from service.zoo import build


@pytest.fixture(scope="module")
def vgg():
    return build("vgg", input_shape=(16, 16, 3), widths=(8, 8, 16, 16))


def _input_shape(data: bytes) -> list[int]:
    model = load_model(data)
    subgraph = model.subgraphs[0]
    return [int(d) for d in subgraph.tensors[subgraph.inputs[0]].shape]


def test_float32_has_batch_1_and_no_shape_arithmetic(vgg, capfd: pytest.CaptureFixture[str]) -> None:
    data = to_device_tflite(vgg)
    out, err = capfd.readouterr()
    assert out == "" and "single_machine" not in err  # the converter's chatter is silenced
    assert _input_shape(data) == [1, 16, 16, 3]
    # Flatten is one RESHAPE: a dynamic batch would add SHAPE/STRIDED_SLICE/PACK (reading fails)
    assert [s.op for s in signatures_from_tflite(data)].count("RESHAPE") == 1


def test_int8_is_int8_from_input_to_output(vgg) -> None:
    data = to_device_tflite(vgg, "int8", representative=np.random.default_rng(0).random((20, 16, 16, 3)))
    rows = tensor_dtypes(data)
    assert rows[0][1][0] == "INT8" and rows[-1][2] == "INT8"
    assert {s.dtype for s in signatures_from_tflite(data)} == {"int8"}
    assert not {"QUANTIZE", "DEQUANTIZE"} & {row[0] for row in rows}


def test_bad_arguments_are_rejected(vgg) -> None:
    with pytest.raises(ValueError, match="dtype"):
        to_device_tflite(vgg, "float16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="only used for dtype='int8'"):
        to_device_tflite(vgg, "float32", representative=np.zeros((4, 16, 16, 3)))
    with pytest.raises(ValueError, match="shaped"):
        to_device_tflite(vgg, "int8", representative=np.zeros((4, 8, 8, 3)))
