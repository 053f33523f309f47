"""How large a model, and the memory of a run, may be: bounds a user can read (README,
"Resource limits") and change with NETADAPT_* settings.

At upload, from the inspection's analysis: the input's elements per sample, the
parameter count (also enforced while the model loads, before its weights are allocated:
service.uploads.inspect_worker), and the activation bytes per sample (every layer's
output for one sample, what a forward pass keeps for the backward one).

At run creation, the same bounds again (they may have been lowered since the upload),
then the memory the run needs at the least: the dataset resized to the model's input, as
float32 (runs hold it whole), plus one training batch of activations. A run that needs
more than a run worker may use (run_memory_bytes) could only fail later; it is refused.
A run that passes can still hit the limit (fine-tuning needs more than this lower
bound): it then fails saying so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from service.settings import Settings
from service.uploads.catalog import DatasetRecord

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class ModelLimits:
    max_input_elements: int
    max_params: int
    max_activation_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> ModelLimits:
        return cls(
            max_input_elements=settings.max_model_input_elements,
            max_params=settings.max_model_params,
            max_activation_bytes=settings.max_activation_bytes_per_sample,
        )


def model_limit_refusal(analysis: dict[str, Any], limits: ModelLimits) -> str | None:
    """Why a model with this analysis is too large for this server, or None."""
    shapes = analysis.get("input_shapes") or [analysis.get("input_shape") or []]
    elements = sum(math.prod(side for side in shape if side is not None) for shape in shapes)
    if elements > limits.max_input_elements:
        return (
            f"the model's input has {elements:,} elements per sample ({_shapes(shapes)}), more than this "
            f"server accepts ({limits.max_input_elements:,}, NETADAPT_MAX_MODEL_INPUT_ELEMENTS); "
            "build the model for smaller inputs"
        )
    params = int(analysis.get("params") or 0)
    if params > limits.max_params:
        return (
            f"the model has {params:,} parameters, more than this server accepts ({limits.max_params:,}, "
            "NETADAPT_MAX_MODEL_PARAMS); upload a smaller model"
        )
    activations = analysis.get("activation_bytes")
    if activations is not None and activations > limits.max_activation_bytes:
        return (
            f"one sample's activations (every layer's output) take {activations:,} bytes, more than this "
            f"server accepts ({limits.max_activation_bytes:,}, NETADAPT_MAX_ACTIVATION_BYTES_PER_SAMPLE); "
            "build the model for smaller inputs or with fewer channels"
        )
    return None


def run_memory_refusal(
    analysis: dict[str, Any], dataset: DatasetRecord, batch_size: int, run_memory_bytes: int
) -> str | None:
    """Why a run of this model on this dataset cannot fit in a run worker, or None
    (run_memory_bytes 0: no limit)."""
    height, width, channels = (analysis.get("input_shape") or [None, None, None])[-3:]
    if height is None or width is None or channels is None:
        return (
            f"the model's input size is not fixed ({_shapes([analysis.get('input_shape') or []])}); runs "
            "resize the dataset to the model's input: save the model with a fixed input shape, "
            "e.g. keras.Input((height, width, channels))"
        )
    if not run_memory_bytes:
        return None
    samples = dataset.train_size + dataset.test_size
    dataset_bytes = samples * height * width * channels * FLOAT32_BYTES
    batch_bytes = batch_size * int(analysis.get("activation_bytes") or 0)
    needed = dataset_bytes + batch_bytes
    if needed <= run_memory_bytes:
        return None
    return (
        f"the run needs at least {needed:,} bytes of memory: dataset {dataset.id} resized to the model's "
        f"input {height}x{width}x{channels} as float32 ({samples:,} images, {dataset_bytes:,} bytes) plus one "
        f"batch of {batch_size} samples' activations ({batch_bytes:,} bytes); a run worker may use "
        f"{run_memory_bytes:,} bytes (NETADAPT_RUN_MEMORY_BYTES). Use a smaller dataset, a smaller "
        "training.batch_size, or a model with a smaller input"
    )


def _shapes(shapes: list[list[int | None]]) -> str:
    return ", ".join("x".join("?" if side is None else str(side) for side in shape) for shape in shapes)
