"""The operator version the TFLiteConverter writes for a signature.

The version only tells the runtime which kernel features the op uses (it does not
change the kernel chosen), but a built model should read like a converted one. The
rules below follow TFLite's versioning of the features a LayerSignature can express,
and were checked against tensorflow-cpu 2.21 conversions (see the tests). Every op
the builder makes has its bias (trained layers have non-zero biases).
"""

from __future__ import annotations

from typing import Callable

from latency_tables.signature import LayerSignature


def _by_dtype(int8_version: int) -> Callable[[LayerSignature], int]:
    return lambda sig: int8_version if sig.dtype == "int8" else 1


def _conv(sig: LayerSignature) -> int:
    if (sig.groups or 1) > 1:
        return 6
    return 3 if sig.dtype == "int8" else 1


def _depthwise(sig: LayerSignature) -> int:
    if sig.dtype == "int8":
        return 3
    return 2 if sig.dilation != (1, 1) else 1


def _fully_connected(sig: LayerSignature) -> int:
    keep_num_dims = len(sig.inputs[0]) > 2 and len(sig.output) == len(sig.inputs[0])
    if keep_num_dims:
        return 5
    return 4 if sig.dtype == "int8" else 1


def _transpose_conv(sig: LayerSignature) -> int:
    if sig.activation != "NONE":
        return 4
    return 3  # has a bias


def _broadcast_above_4d(sig: LayerSignature) -> bool:
    operands = (*sig.inputs, *(sig.const_inputs or ()))
    return len(operands) == 2 and operands[0] != operands[1] and max(len(s) for s in operands) > 4


def _sub_or_minmax(sig: LayerSignature) -> int:
    if _broadcast_above_4d(sig):
        return 3
    return 2 if sig.dtype == "int8" else 1


def _rank_above_4(int8_version: int, high_rank_version: int) -> Callable[[LayerSignature], int]:
    def version(sig: LayerSignature) -> int:
        if len(sig.inputs[0]) > 4:
            return high_rank_version
        return int8_version if sig.dtype == "int8" else 1

    return version


def _transpose(sig: LayerSignature) -> int:
    if len(sig.inputs[0]) > 5:
        return 6
    if len(sig.inputs[0]) > 4:
        return 4
    return 2 if sig.dtype == "int8" else 1


def _resize_bilinear(sig: LayerSignature) -> int:
    if sig.half_pixel_centers:
        return 3
    return 2 if sig.dtype == "int8" else 1


def _resize_nearest(sig: LayerSignature) -> int:
    if sig.half_pixel_centers or sig.align_corners:
        return 3
    return 2 if sig.dtype == "int8" else 1


_RULES: dict[str, Callable[[LayerSignature], int]] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _depthwise,
    "FULLY_CONNECTED": _fully_connected,
    "TRANSPOSE_CONV": _transpose_conv,
    # MUL would be 3 if input1_scale * input2_scale / output_scale >= 1; the builder
    # picks scales below that.
    "MUL": _by_dtype(2),
    "ADD": _by_dtype(2),
    "SUB": _sub_or_minmax,
    "MAXIMUM": _sub_or_minmax,
    "MINIMUM": _sub_or_minmax,
    "MAX_POOL_2D": _by_dtype(2),
    "AVERAGE_POOL_2D": _by_dtype(2),
    "MEAN": _by_dtype(2),
    "SUM": _by_dtype(2),
    "REDUCE_MAX": _by_dtype(2),
    "SOFTMAX": _by_dtype(2),
    "LOGISTIC": _by_dtype(2),
    "TANH": _by_dtype(2),
    "RELU": _by_dtype(2),
    "RELU6": _by_dtype(2),
    "GELU": _by_dtype(2),
    "CONCATENATION": _by_dtype(2),
    "TILE": _by_dtype(3),
    "DEQUANTIZE": lambda sig: 2,  # int8 input, per-tensor
    "PAD": _rank_above_4(2, 4),
    "STRIDED_SLICE": _rank_above_4(2, 4),
    "TRANSPOSE": _transpose,
    "RESIZE_BILINEAR": _resize_bilinear,
    "RESIZE_NEAREST_NEIGHBOR": _resize_nearest,
}


def converter_op_version(sig: LayerSignature) -> int:
    """Version of sig.op's OperatorCode in a converter-made model of this layer.

    Ops without a rule (RESHAPE, QUANTIZE, LEAKY_RELU, PRELU, HARD_SWISH) are version 1
    for float32 and int8 alike.
    """
    rule = _RULES.get(sig.op)
    return rule(sig) if rule else 1
