"""Save models as .keras files, and write the .tflite a device runs.

Every .tflite the service writes is the conversion its costs are measured on,
`service.costs.device_export.to_device_tflite`: batch size 1, and for int8 full-integer
quantization with int8 inputs and outputs. So the file a user downloads has exactly the
ops the lookup tables priced and the device agent measured (a dynamic batch would add
SHAPE/STRIDED_SLICE/PACK/RESHAPE around Flatten heads; float inputs on an int8 model a
QUANTIZE and a DEQUANTIZE). Feeding an int8 model means quantizing its input with the
input tensor's scale and zero point (`service.training.litert_evaluation` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latency_tables.atomic_files import atomic_target, write_bytes_atomically
from service.costs.device_export import DeviceDtype, to_device_tflite


def save_keras(model: Any, path: str | Path) -> Path:
    """Save `model` to `path` (must end in .keras) atomically; return `path`."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Keras model files must end in .keras, got {path}")
    with atomic_target(path) as temporary:
        model.save(temporary)
    return path


def to_tflite(
    model: Any,
    path: str | Path,
    dtype: DeviceDtype = "float32",
    representative: np.ndarray | Sequence[np.ndarray] | None = None,
) -> Path:
    """Write `to_device_tflite(model, dtype, representative)` to `path` atomically; return
    `path`. int8 needs `representative` inputs (e.g. the training split; up to 100 evenly
    spaced samples calibrate the activation ranges): the noise `to_device_tflite` falls
    back on prices a model correctly but would ship one with useless ranges."""
    if dtype == "int8" and (representative is None or len(representative) == 0):
        raise ValueError(
            "an int8 model file needs representative inputs (e.g. a few hundred training "
            "images) to calibrate its activation ranges"
        )
    return write_bytes_atomically(path, to_device_tflite(model, dtype, representative))
