"""A run's .tflite files: the device conversion at the run's precision, one for measuring
and the artifacts alike.

The same function with the same inputs converts a model for its whole-model measurement
and for the file a user downloads, so both are the same graph (the converter is
deterministic: equal bytes for equal model and calibration samples). int8 models are
calibrated on the run's training split (holdout excluded), whose samples are already in
the model's input format.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from service.pruning.data import load_run_data
from service.pruning.options import DataSpec, TrainingOptions
from service.pruning.run_layout import FINAL_TFLITE


def calibration_inputs(data: DataSpec, options: TrainingOptions) -> np.ndarray | None:
    """The samples an int8 conversion is calibrated on (None for float32)."""
    if options.precision != "int8":
        return None
    return load_run_data(data, options.holdout, options.seed).x_train


def run_tflite(model: Any, data: DataSpec, options: TrainingOptions) -> bytes:
    """`model` as the run's device runs it (and as the run measures it)."""
    from service.costs.device_export import to_device_tflite

    return to_device_tflite(model, options.precision, calibration_inputs(data, options))  # type: ignore[arg-type]


def write_run_tflite(model: Any, path: Path, data: DataSpec, options: TrainingOptions) -> Path:
    """`run_tflite(model, ...)` written to `path` atomically."""
    from service.training.export import to_tflite

    return to_tflite(model, path, options.precision, calibration_inputs(data, options))  # type: ignore[arg-type]


def write_tflites_beside(keras_paths: Iterable[Path], data: DataSpec, options: TrainingOptions) -> list[Path]:
    """Each .keras model converted to the .tflite beside it (iter_001.keras -> iter_001.tflite)."""
    import keras

    return [
        write_run_tflite(keras.saving.load_model(path, compile=False), path.with_suffix(".tflite"), data, options)
        for path in keras_paths
    ]


def final_tflite_test_accuracy(run_dir: Path, data: DataSpec, options: TrainingOptions) -> float | None:
    """final.tflite's accuracy on the test split, run with LiteRT (None before it exists)."""
    from service.training.tflite_inference import tflite_accuracy

    path = run_dir / FINAL_TFLITE
    if not path.is_file():
        return None
    dataset = load_run_data(data, options.holdout, options.seed).dataset
    return tflite_accuracy(path, dataset.x_test, dataset.y_test)
