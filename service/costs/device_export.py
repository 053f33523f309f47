"""Convert a Keras model to the .tflite a device runs, with the batch size fixed to 1.

Lookup-table costs are keyed by the signatures of the ops in this file, so every model
whose cost we estimate or measure must go through the same conversion:

- Batch size 1, fixed. With a dynamic batch the converter computes shapes at run time
  (Flatten becomes SHAPE + STRIDED_SLICE + PACK + RESHAPE), which is extra work on the
  device and ops no table describes.
- The model is traced as a frozen concrete function and converted from its GraphDef
  (`from_concrete_functions` without a trackable object). `from_keras_model` exports a
  SavedModel first, and passing the model as trackable object takes a similar path: for
  Keras MobileNetV2 at 96x96 they take 11.6 s and 7 s, this 2.4 s. TensorFlow calls this
  path deprecated; on 114 probe models (every layer kind the signature derivation knows,
  float32 and int8) it emits exactly the operators `from_keras_model` does. If a later
  TensorFlow drops it, pass `model` as trackable_obj and nothing else changes.
- int8 means full-integer quantization with int8 inputs and outputs: no QUANTIZE /
  DEQUANTIZE at the edges, so every op of the model is an int8 kernel.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

from service.quiet_tf import converter_output_silenced, import_tensorflow_quietly

DeviceDtype = Literal["float32", "int8"]
DEVICE_DTYPES: tuple[str, ...] = ("float32", "int8")

# Enough samples for stable activation ranges; more only slows conversion down.
CALIBRATION_SAMPLES = 100
# Without real data, a few random inputs calibrate well enough for cost measurement:
# latency does not depend on the quantization scales, only on the ops and their shapes.
SYNTHETIC_CALIBRATION_SAMPLES = 8


def to_device_tflite(
    model: Any,
    dtype: DeviceDtype = "float32",
    representative: np.ndarray | Sequence[np.ndarray] | None = None,
) -> bytes:
    """The .tflite flatbuffer of `model` as a device runs it: batch size 1, float32 or int8.

    `representative` (int8 only) holds calibration inputs with a leading sample axis, one
    array per model input (a bare array for a single-input model); up to 100 evenly spaced
    samples are used. Without it, seeded uniform [0, 1) noise is used: fine for cost
    tables, not for a model whose accuracy matters.
    """
    if dtype not in DEVICE_DTYPES:
        raise ValueError(f"dtype must be one of {DEVICE_DTYPES}, got {dtype!r}")
    import_tensorflow_quietly()
    import tensorflow as tf

    input_shapes = _fixed_input_shapes(model)
    samples = _calibration_samples(input_shapes, representative) if dtype == "int8" else None
    if dtype != "int8" and representative is not None:
        raise ValueError("representative inputs are only used for dtype='int8'")
    with warnings.catch_warnings(), converter_output_silenced():
        # Asked for because the inputs are quantized; the calibration pass supplies them.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [_frozen_batch1_function(model, input_shapes)]
        )
        if samples is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
            converter.representative_dataset = lambda: _calibration_batches(samples)
        return bytes(converter.convert())


def _fixed_input_shapes(model: Any) -> list[tuple[int, ...]]:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(f"model '{model.name}' has no symbolic inputs; build it on keras.Input first")
    shapes = []
    for tensor in inputs:
        shape = tuple(tensor.shape[1:])
        if any(d is None for d in shape):
            raise ValueError(
                f"model '{model.name}' input {tensor.name} has shape {tuple(tensor.shape)}: "
                "device models need a fixed input size (set height and width on keras.Input)"
            )
        shapes.append((1, *(int(d) for d in shape)))
    return shapes


def _frozen_batch1_function(model: Any, input_shapes: list[tuple[int, ...]]) -> Any:
    import tensorflow as tf
    # Not public API, but the documented way to freeze a concrete function; the converter's
    # own from_concrete_functions keeps resource variables (VAR_HANDLE ops) in TF 2.21.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec(shape, model.inputs[i].dtype) for i, shape in enumerate(input_shapes)]
    single = len(specs) == 1

    def inference(*xs: Any) -> Any:
        return model(xs[0] if single else list(xs), training=False)

    traced = tf.function(inference, input_signature=specs).get_concrete_function()
    return convert_variables_to_constants_v2(traced)


def _calibration_samples(
    input_shapes: list[tuple[int, ...]], representative: np.ndarray | Sequence[np.ndarray] | None
) -> list[np.ndarray]:
    """One float32 array per input, (samples, *shape without batch)."""
    if representative is None:
        rng = np.random.default_rng(0)
        return [
            rng.random((SYNTHETIC_CALIBRATION_SAMPLES, *shape[1:]), dtype=np.float32)
            for shape in input_shapes
        ]
    arrays = [representative] if isinstance(representative, np.ndarray) else list(representative)
    if len(arrays) != len(input_shapes):
        raise ValueError(f"representative: got {len(arrays)} arrays for {len(input_shapes)} model inputs")
    samples = []
    for array, shape in zip(arrays, input_shapes):
        array = np.asarray(array, dtype=np.float32)
        if array.ndim != len(shape) or array.shape[1:] != shape[1:] or len(array) == 0:
            raise ValueError(
                f"representative inputs must be shaped (samples, {', '.join(map(str, shape[1:]))}), "
                f"got {array.shape}"
            )
        # Evenly spaced rather than the first N: datasets are often sorted by class.
        count = min(CALIBRATION_SAMPLES, len(array))
        samples.append(array[np.linspace(0, len(array) - 1, count).round().astype(int)])
    return samples


def _calibration_batches(samples: list[np.ndarray]) -> Iterator[list[np.ndarray]]:
    for index in range(len(samples[0])):
        yield [array[index : index + 1] for array in samples]
