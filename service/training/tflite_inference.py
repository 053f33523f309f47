"""Run a .tflite model on the host with LiteRT: its outputs and its accuracy on a split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from service.quiet_tf import stderr_silenced

ModelSource = str | Path | bytes


def tflite_predict(model: ModelSource, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Outputs of the .tflite `model` (a path or the file's bytes) for inputs `x` (float32,
    batch first), dequantized to float32.

    The service's models have a fixed batch of 1 (service.costs.device_export), so they run
    one sample per invoke; a model with a dynamic batch is resized to `batch_size`. An int8
    model's input is quantized with its input tensor's scale and zero point, as a deployed
    app would feed it.
    """
    interpreter = _interpreter(model)
    input_detail = interpreter.get_input_details()[0]
    fixed_batch = int(input_detail["shape_signature"][0]) if len(input_detail["shape_signature"]) else -1
    step = fixed_batch if fixed_batch > 0 else batch_size
    outputs = []
    allocated_for = None
    for start in range(0, len(x), step):
        batch = np.asarray(x[start : start + step], dtype=np.float32)
        if allocated_for != len(batch):
            if fixed_batch > 0 and len(batch) != fixed_batch:
                raise ValueError(f"the model takes batches of {fixed_batch}, got {len(batch)} samples")
            if fixed_batch <= 0:
                interpreter.resize_tensor_input(input_detail["index"], batch.shape)
            with stderr_silenced():  # LiteRT announces its XNNPACK delegate on fd 2
                interpreter.allocate_tensors()
            allocated_for = len(batch)
        interpreter.set_tensor(input_detail["index"], _quantize(batch, input_detail))
        interpreter.invoke()
        output_detail = interpreter.get_output_details()[0]
        outputs.append(_dequantize(interpreter.get_tensor(output_detail["index"]), output_detail))
    return np.concatenate(outputs)


def tflite_accuracy(model: ModelSource, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of argmax predictions equal to the labels, as `evaluation.evaluate`
    counts it: per image for classifiers (y of shape (N,)), per pixel for segmenters (y of
    shape (N, H, W))."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need as many labels as samples, and some: got {len(x)} and {len(y)}")
    predicted = tflite_predict(model, x).argmax(axis=-1)
    labels = np.asarray(y)
    if predicted.shape != labels.shape:
        raise ValueError(f"predictions have shape {predicted.shape[1:]} per sample, labels {labels.shape[1:]}")
    return float(np.mean(predicted == labels))


def _interpreter(model: ModelSource) -> Interpreter:
    with stderr_silenced():
        if isinstance(model, bytes):
            return Interpreter(model_content=model)
        return Interpreter(model_path=str(model))


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
