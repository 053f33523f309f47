"""Hand-written signatures covering every op the builder supports, for both dtypes."""

from __future__ import annotations

from latency_tables import LayerSignature

IMAGE = (1, 12, 12, 8)


def _sig(op: str, inputs, output, **options) -> LayerSignature:
    return LayerSignature(op=op, inputs=inputs, output=output, **options)


def example_signatures(dtype: str) -> list[LayerSignature]:
    """One or more signatures per buildable op (QUANTIZE/DEQUANTIZE follow `dtype` rules)."""
    d = {"dtype": dtype}
    window = {"kernel": (3, 3), "stride": (2, 2), "padding": "SAME"}
    examples = [
        _sig("CONV_2D", [IMAGE], (1, 12, 12, 16), kernel=(3, 3), stride=(1, 1), padding="SAME", activation="RELU", **d),
        _sig("CONV_2D", [IMAGE], (1, 5, 5, 4), kernel=(3, 3), stride=(2, 2), padding="VALID", activation="RELU6", **d),
        _sig("CONV_2D", [IMAGE], (1, 12, 12, 16), kernel=(1, 1), stride=(1, 1), padding="SAME", **d),
        _sig("CONV_2D", [IMAGE], (1, 12, 12, 8), kernel=(3, 3), stride=(1, 1), padding="SAME", dilation=(2, 2), **d),
        _sig("CONV_2D", [IMAGE], (1, 12, 12, 16), kernel=(3, 3), stride=(1, 1), padding="SAME", groups=2, **d),
        _sig("DEPTHWISE_CONV_2D", [IMAGE], (1, 12, 12, 8), kernel=(3, 3), stride=(1, 1), padding="SAME", activation="RELU6", **d),
        _sig("DEPTHWISE_CONV_2D", [IMAGE], (1, 5, 5, 16), kernel=(3, 3), stride=(2, 2), padding="VALID", depth_multiplier=2, **d),
        _sig("TRANSPOSE_CONV", [IMAGE], (1, 24, 24, 4), **{**window, "stride": (2, 2)}, **d),
        _sig("TRANSPOSE_CONV", [IMAGE], (1, 25, 25, 4), kernel=(3, 3), stride=(2, 2), padding="VALID", activation="RELU", **d),
        _sig("FULLY_CONNECTED", [(1, 64)], (1, 10), **d),
        _sig("FULLY_CONNECTED", [(1, 4, 4, 32)], (1, 4, 4, 10), activation="RELU", **d),
        _sig("MAX_POOL_2D", [IMAGE], (1, 6, 6, 8), kernel=(2, 2), stride=(2, 2), padding="VALID", **d),
        _sig("AVERAGE_POOL_2D", [IMAGE], (1, 6, 6, 8), **window, **d),
        _sig("MEAN", [IMAGE], (1, 8), axis=(1, 2), **d),
        _sig("MEAN", [IMAGE], (1, 1, 1, 8), axis=(1, 2), keep_dims=True, **d),
        _sig("SUM", [IMAGE], (1, 12, 12), axis=(-1,), **d),
        _sig("REDUCE_MAX", [IMAGE], (1, 8), axis=(1, 2), **d),
        _sig("ADD", [IMAGE, IMAGE], IMAGE, **d),
        _sig("ADD", [IMAGE], IMAGE, const_inputs=[(8,)], activation="RELU6", **d),
        _sig("SUB", [IMAGE, IMAGE], IMAGE, **d),
        _sig("MUL", [IMAGE, (1, 1, 1, 8)], IMAGE, **d),
        _sig("MUL", [IMAGE], IMAGE, const_inputs=[()], **d),
        _sig("MAXIMUM", [IMAGE, IMAGE], IMAGE, **d),
        _sig("MINIMUM", [IMAGE], IMAGE, const_inputs=[()], **d),
        _sig("CONCATENATION", [IMAGE, (1, 12, 12, 4)], (1, 12, 12, 12), axis=3, **d),
        _sig("PAD", [IMAGE], (1, 13, 13, 8), paddings=((0, 0), (0, 1), (0, 1), (0, 0)), **d),
        _sig("RESHAPE", [(1, 4, 4, 16)], (1, 256), **d),
        _sig("SOFTMAX", [(1, 100)], (1, 100), **d),
        _sig("LOGISTIC", [IMAGE], IMAGE, **d),
        _sig("TANH", [IMAGE], IMAGE, **d),
        _sig("RELU", [IMAGE], IMAGE, **d),
        _sig("RELU6", [IMAGE], IMAGE, **d),
        _sig("LEAKY_RELU", [IMAGE], IMAGE, **d),
        _sig("HARD_SWISH", [IMAGE], IMAGE, **d),
        _sig("GELU", [IMAGE], IMAGE, **d),
        _sig("PRELU", [IMAGE], IMAGE, const_inputs=[(1, 1, 8)], **d),
        _sig("RESIZE_BILINEAR", [IMAGE], (1, 24, 24, 8), half_pixel_centers=True, **d),
        _sig("RESIZE_NEAREST_NEIGHBOR", [IMAGE], (1, 24, 24, 8), **d),
        _sig("STRIDED_SLICE", [IMAGE], (1, 10, 10, 8), begin=(0, 1, 1, 0), **d),
        _sig("STRIDED_SLICE", [IMAGE], (1, 6, 6, 8), begin=(0, 0, 0, 0), step=(1, 2, 2, 1), **d),
        _sig("TILE", [(1, 12, 1, 12, 8)], (1, 12, 2, 12, 8), **d),
        _sig("TRANSPOSE", [IMAGE], (1, 8, 12, 12), perm=(0, 3, 1, 2), **d),
        # QUANTIZE: dtype float32 quantizes, int8 requantizes.
        _sig("QUANTIZE", [IMAGE], IMAGE, **d),
    ]
    if dtype == "int8":
        examples.append(_sig("DEQUANTIZE", [IMAGE], IMAGE, dtype="int8"))
    return examples
