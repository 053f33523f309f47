"""int8 quantization as the TFLiteConverter's full-integer mode emits it.

Activations: per-tensor affine int8 (scale, zero point). Conv/depthwise/dense/transpose
conv weights: per-channel symmetric int8 (zero point 0). Biases: int32 with
scale = input_scale * weight_scale[channel] and zero point 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latency_tables.tflite_schema import schema

INT8_MIN, INT8_MAX = -128, 127
# Weights use the symmetric range [-127, 127], so -128 never appears (TFLite's rule).
WEIGHT_MAX = 127


@dataclass(frozen=True)
class QuantParams:
    """Per-tensor affine quantization: real = scale * (q - zero_point)."""

    scale: float
    zero_point: int

    @classmethod
    def for_range(cls, low: float, high: float) -> "QuantParams":
        """Parameters covering [low, high] (widened to include 0, as TFLite requires)."""
        low, high = min(low, 0.0), max(high, 0.0)
        scale = (high - low) / (INT8_MAX - INT8_MIN)
        zero_point = int(np.clip(round(INT8_MIN - low / scale), INT8_MIN, INT8_MAX))
        return cls(float(np.float32(scale)), zero_point)

    def to_schema(self) -> "schema.QuantizationParametersT":
        params = schema.QuantizationParametersT()
        params.scale = [self.scale]
        params.zeroPoint = [self.zero_point]
        params.quantizedDimension = 0
        return params

    def quantize(self, values: np.ndarray) -> np.ndarray:
        q = np.round(values / self.scale) + self.zero_point
        return np.clip(q, INT8_MIN, INT8_MAX).astype(np.int8)


def per_channel_schema(scales: np.ndarray, axis: int) -> "schema.QuantizationParametersT":
    params = schema.QuantizationParametersT()
    params.scale = [float(s) for s in np.asarray(scales, np.float32)]
    params.zeroPoint = [0] * len(params.scale)
    params.quantizedDimension = axis
    return params


def symmetric_per_channel(weights: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights and float32 scales (one per slice along `axis`), zero point 0."""
    reduce_axes = tuple(i for i in range(weights.ndim) if i != axis)
    max_abs = np.max(np.abs(weights), axis=reduce_axes)
    # An all-zero channel would get scale 0, which TFLite rejects.
    scales = np.where(max_abs > 0, max_abs / WEIGHT_MAX, 1.0).astype(np.float32)
    shape = [1] * weights.ndim
    shape[axis] = -1
    q = np.clip(np.round(weights / scales.reshape(shape)), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return q, scales


def symmetric_per_tensor(values: np.ndarray) -> tuple[np.ndarray, QuantParams]:
    """int8 values with one symmetric scale (constants such as PRELU alpha or a BN scale)."""
    max_abs = float(np.max(np.abs(values))) if values.size else 0.0
    params = QuantParams(float(np.float32(max_abs / WEIGHT_MAX)) if max_abs > 0 else 1.0, 0)
    q = np.clip(np.round(values / params.scale), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    return q, params


def quantize_bias(bias: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int32 bias and its per-channel scales input_scale * weight_scale."""
    scales = (np.float32(input_scale) * np.asarray(weight_scales, np.float32)).astype(np.float32)
    q = np.round(bias / scales.astype(np.float64))
    return np.clip(q, np.iinfo(np.int32).min, np.iinfo(np.int32).max).astype(np.int32), scales
