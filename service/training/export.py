"""Save models as .keras files and convert them to TFLite (float32 or full-integer int8).

int8 models keep float32 inputs and outputs: the converter adds a quantize op after the
input and a dequantize op before the output. Every model file the service produces then
takes the same [0, 1] float images and returns the same probabilities, so accuracy checks
and the device agent need no per-model scale/zero-point handling; the two edge ops are
negligible next to the quantized convolutions that dominate latency.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from latency_tables.atomic_files import atomic_target, write_bytes_atomically
from service.quiet_tf import converter_output_silenced

# Enough batches for stable per-tensor ranges; more only slows conversion.
REPRESENTATIVE_SAMPLES = 100


def save_keras(model: keras.Model, path: str | Path) -> Path:
    """Save `model` to `path` (must end in .keras) atomically; return `path`."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Keras model files must end in .keras, got {path}")
    with atomic_target(path) as temporary:
        model.save(temporary)
    return path


def to_tflite(
    model: keras.Model,
    path: str | Path,
    dtype: Literal["float32", "int8"] = "float32",
    representative: np.ndarray | None = None,
) -> Path:
    """Convert `model` to a .tflite file at `path` atomically; return `path`.

    dtype="int8" quantizes all weights and activations to int8 (builtin int8 kernels only,
    conversion fails rather than silently falling back to float ops) and needs
    `representative` inputs, shaped like the model input with a leading batch axis, from
    which up to 100 evenly spaced samples calibrate the activation ranges.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if dtype == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError(
                "int8 conversion needs representative inputs (e.g. a few hundred training "
                "images) to calibrate activation ranges"
            )
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _calibration_batches(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    elif dtype != "float32":
        raise ValueError(f"dtype must be 'float32' or 'int8', got {dtype!r}")
    with warnings.catch_warnings(), converter_output_silenced():
        # The converter asks for input statistics only because the float inputs get a
        # quantize op; the calibration pass supplies them, so the warning is noise.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        content = converter.convert()
    return write_bytes_atomically(path, content)


def _calibration_batches(representative: np.ndarray):
    # Evenly spaced rather than the first N: datasets are often sorted by class.
    count = min(REPRESENTATIVE_SAMPLES, len(representative))
    indices = np.linspace(0, len(representative) - 1, count).round().astype(int)
    samples = np.asarray(representative, dtype=np.float32)[indices]

    def batches():
        for sample in samples:
            yield [sample[None]]

    return batches
