"""Run a .tflite model on the host, to check conversions against the Keras original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def tflite_predict(path: str | Path, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Outputs of the .tflite model at `path` for inputs `x` (float32, batch first).

    The converter leaves the batch dimension dynamic, so the input is resized to each
    batch's size; quantized inputs/outputs, if a model has them, are (de)quantized here.
    """
    interpreter = Interpreter(model_path=str(path))
    input_detail = interpreter.get_input_details()[0]
    outputs = []
    allocated_for = None
    for start in range(0, len(x), batch_size):
        batch = np.asarray(x[start : start + batch_size], dtype=np.float32)
        if allocated_for != len(batch):
            interpreter.resize_tensor_input(input_detail["index"], batch.shape)
            interpreter.allocate_tensors()
            allocated_for = len(batch)
        interpreter.set_tensor(input_detail["index"], _quantize(batch, input_detail))
        interpreter.invoke()
        output_detail = interpreter.get_output_details()[0]
        outputs.append(_dequantize(interpreter.get_tensor(output_detail["index"]), output_detail))
    return np.concatenate(outputs)


def _quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    quantized = np.round(values / scale + zero_point)
    return np.clip(quantized, info.min, info.max).astype(detail["dtype"])


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    return (values.astype(np.float32) - zero_point) * scale
