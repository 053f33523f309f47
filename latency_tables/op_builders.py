"""Per-op recipes: the tensors, constants and builtin options of one operator.

Each recipe lays out its operands as the TFLiteConverter does for a Keras layer
(CONV_2D filters OHWI, DEPTHWISE_CONV_2D 1HW(C*multiplier), FULLY_CONNECTED
[units, in], TRANSPOSE_CONV [output_shape, OHWI filters, input, bias], parameters such
as axes or paddings as int32 constant inputs) and, for int8, quantizes them the way
full-integer quantization does (see quantization.py).

Weights are random but deterministic in the seed. They are scaled by 1/sqrt(fan_in)
so that activations keep their range through the op: outputs stay finite and the
int8 parameters below stay plausible. Nothing is zero, so no kernel can take a
sparse or constant-folding fast path that a trained layer would not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from latency_tables.model_assembly import OperatorPlan, SingleOpGraph
from latency_tables.op_specs import (
    BINARY_OPS,
    POOL_OPS,
    REDUCE_OPS,
    RESIZE_OPS,
    UNARY_OPS,
    ResolvedSignature,
    op_registrar,
)
from latency_tables.op_versions import converter_op_version
from latency_tables.quantization import (
    QuantParams,
    per_channel_schema,
    quantize_bias,
    symmetric_per_channel,
    symmetric_per_tensor,
)
from latency_tables.signature import LayerSignature
from latency_tables.tflite_schema import ACTIVATION_CODES, PADDING_CODES, schema

Options = schema.BuiltinOptions

# int8 activations are assumed to span about [-4, 4] (standardised data); outputs
# get the range the converter would calibrate for them.
ACTIVATION_PARAMS = QuantParams.for_range(-4.0, 4.0)
_FUSED_OUTPUT_RANGES = {
    "NONE": (-4.0, 4.0),
    "RELU": (0.0, 4.0),
    "RELU6": (0.0, 6.0),
    "RELU_N1_TO_1": (-1.0, 1.0),
    "TANH": (-1.0, 1.0),
}
# The TFLite int8 kernels of these ops require exactly these output parameters.
_FIXED_OUTPUT_PARAMS = {
    "LOGISTIC": QuantParams(1.0 / 256, -128),
    "SOFTMAX": QuantParams(1.0 / 256, -128),
    "TANH": QuantParams(1.0 / 128, 0),
}
_UNARY_OUTPUT_RANGES = {
    "RELU": (0.0, 4.0),
    "RELU6": (0.0, 6.0),
    "HARD_SWISH": (-0.375, 4.0),
    "GELU": (-0.17, 4.0),
}
# Requantization only happens between different parameters.
_REQUANTIZED_PARAMS = QuantParams.for_range(-8.0, 8.0)
_BIAS_RANGE = 0.1


class OpContext:
    """The graph under construction for one signature, with helpers shared by recipes."""

    def __init__(self, sig: LayerSignature, seed: int) -> None:
        self.signature = sig
        self.sig = cast(ResolvedSignature, sig)  # the recipe of sig.op reads only options it has
        self.graph = SingleOpGraph()
        self.rng = np.random.default_rng(seed)
        self.quantized = sig.dtype == "int8"

    @property
    def activation_dtype(self) -> type:
        return np.int8 if self.quantized else np.float32

    def quantization(self, params: QuantParams) -> "schema.QuantizationParametersT | None":
        return params.to_schema() if self.quantized else None

    def inputs(self) -> list[int]:
        return [
            self.graph.add_input(shape, self.activation_dtype, self.quantization(ACTIVATION_PARAMS))
            for shape in self.sig.inputs
        ]

    def output(self, params: QuantParams = ACTIVATION_PARAMS) -> int:
        return self.graph.add_output(self.sig.output, self.activation_dtype, self.quantization(params))

    def int32_constant(self, name: str, values: Sequence) -> int:
        return self.graph.add_constant(name, np.asarray(values, np.int32))

    def uniform(self, shape: Sequence[int], low: float, high: float) -> np.ndarray:
        return self.rng.uniform(low, high, size=tuple(shape)).astype(np.float32)

    def weights_and_bias(self, shape: Sequence[int], fan_in: int, channel_axis: int) -> tuple[int, int]:
        """Weight and bias tensors; int8: per-channel weights along `channel_axis`."""
        limit = float(np.sqrt(3.0 / max(fan_in, 1)))
        weights = self.uniform(shape, -limit, limit)
        bias = self.uniform((shape[channel_axis],), -_BIAS_RANGE, _BIAS_RANGE)
        if not self.quantized:
            return self.graph.add_constant("weights", weights), self.graph.add_constant("bias", bias)
        q_weights, scales = symmetric_per_channel(weights, channel_axis)
        q_bias, bias_scales = quantize_bias(bias, ACTIVATION_PARAMS.scale, scales)
        return (
            self.graph.add_constant("weights", q_weights, per_channel_schema(scales, channel_axis)),
            self.graph.add_constant("bias", q_bias, per_channel_schema(bias_scales, 0)),
        )

    def operand_constant(self, name: str, shape: Sequence[int], low: float, high: float) -> int:
        """A constant data operand (BN scale, PRELU alpha...); int8: per-tensor symmetric."""
        values = self.uniform(shape, low, high)
        if not self.quantized:
            return self.graph.add_constant(name, values)
        q_values, params = symmetric_per_tensor(values)
        return self.graph.add_constant(name, q_values, params.to_schema())

    def plan(
        self, inputs: Sequence[int], output: int, options_type: int = Options.NONE, options: object = None
    ) -> OperatorPlan:
        return OperatorPlan(
            op=self.sig.op,
            version=converter_op_version(self.signature),
            inputs=list(inputs),
            outputs=[output],
            options_type=options_type,
            options=options,
        )


OP_BUILDERS: dict[str, Callable[[OpContext], OperatorPlan]] = {}
_builds = op_registrar(OP_BUILDERS)


def _fused_output_params(activation: str) -> QuantParams:
    return QuantParams.for_range(*_FUSED_OUTPUT_RANGES[activation])


def _window_options(options: Any, sig: ResolvedSignature) -> Any:
    options.padding = PADDING_CODES[sig.padding]
    options.strideH, options.strideW = sig.stride
    options.fusedActivationFunction = ACTIVATION_CODES[sig.activation]
    return options


# ---- weighted ops ---------------------------------------------------------------------


@_builds("CONV_2D")
def _conv_2d(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    (x,) = ctx.inputs()
    kh, kw = sig.kernel
    channels_per_group = sig.inputs[0][3] // sig.groups
    weights, bias = ctx.weights_and_bias(
        (sig.output[3], kh, kw, channels_per_group), fan_in=kh * kw * channels_per_group, channel_axis=0
    )
    options = _window_options(schema.Conv2DOptionsT(), sig)
    options.dilationHFactor, options.dilationWFactor = sig.dilation
    y = ctx.output(_fused_output_params(sig.activation))
    return ctx.plan([x, weights, bias], y, Options.Conv2DOptions, options)


@_builds("DEPTHWISE_CONV_2D")
def _depthwise_conv_2d(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    (x,) = ctx.inputs()
    kh, kw = sig.kernel
    weights, bias = ctx.weights_and_bias((1, kh, kw, sig.output[3]), fan_in=kh * kw, channel_axis=3)
    options = _window_options(schema.DepthwiseConv2DOptionsT(), sig)
    options.dilationHFactor, options.dilationWFactor = sig.dilation
    options.depthMultiplier = sig.depth_multiplier
    y = ctx.output(_fused_output_params(sig.activation))
    return ctx.plan([x, weights, bias], y, Options.DepthwiseConv2DOptions, options)


@_builds("TRANSPOSE_CONV")
def _transpose_conv(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    output_shape = ctx.int32_constant("output_shape", sig.output)
    (x,) = ctx.inputs()
    kh, kw = sig.kernel
    c_in = sig.inputs[0][3]
    weights, bias = ctx.weights_and_bias((sig.output[3], kh, kw, c_in), fan_in=kh * kw * c_in, channel_axis=0)
    options = _window_options(schema.TransposeConvOptionsT(), sig)
    y = ctx.output(_fused_output_params(sig.activation))
    return ctx.plan([output_shape, weights, x, bias], y, Options.TransposeConvOptions, options)


@_builds("FULLY_CONNECTED")
def _fully_connected(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    (x,) = ctx.inputs()
    in_features = sig.inputs[0][-1]
    weights, bias = ctx.weights_and_bias((sig.output[-1], in_features), fan_in=in_features, channel_axis=0)
    options = schema.FullyConnectedOptionsT()
    options.fusedActivationFunction = ACTIVATION_CODES[sig.activation]
    options.keepNumDims = len(sig.inputs[0]) > 2 and len(sig.output) == len(sig.inputs[0])
    y = ctx.output(_fused_output_params(sig.activation))
    return ctx.plan([x, weights, bias], y, Options.FullyConnectedOptions, options)


# ---- windows and reductions ---------------------------------------------------------------


@_builds(*POOL_OPS)
def _pool_2d(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    (x,) = ctx.inputs()
    options = _window_options(schema.Pool2DOptionsT(), sig)
    options.filterHeight, options.filterWidth = sig.kernel
    # TFLite's int8 pooling keeps the input's quantization on its output.
    return ctx.plan([x], ctx.output(), Options.Pool2DOptions, options)


@_builds(*REDUCE_OPS)
def _reduce(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    (x,) = ctx.inputs()
    axis = ctx.int32_constant("axis", sig.axis)
    options = schema.ReducerOptionsT()
    options.keepDims = sig.keep_dims
    return ctx.plan([x, axis], ctx.output(), Options.ReducerOptions, options)


# ---- elementwise --------------------------------------------------------------------------

_BINARY_OPTIONS = {
    "ADD": (Options.AddOptions, schema.AddOptionsT),
    "SUB": (Options.SubOptions, schema.SubOptionsT),
    "MUL": (Options.MulOptions, schema.MulOptionsT),
}
# A multiplied constant is typically a folded BatchNorm scale: keep it near 1.
_CONSTANT_RANGES = {"MUL": (0.5, 1.5)}


@_builds(*BINARY_OPS)
def _binary(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    # Constants go after the activations, whichever side the converter put them on:
    # the signature does not record it and the kernels cost the same.
    operands = ctx.inputs()
    low, high = _CONSTANT_RANGES.get(sig.op, (-1.0, 1.0))
    for i, shape in enumerate(sig.const_inputs or ()):
        operands.append(ctx.operand_constant(f"constant_{i}", shape, low, high))
    if sig.op not in _BINARY_OPTIONS:  # MAXIMUM, MINIMUM: no options, same quantization
        return ctx.plan(operands, ctx.output())
    options_type, options_class = _BINARY_OPTIONS[sig.op]
    options = options_class()
    options.fusedActivationFunction = ACTIVATION_CODES[sig.activation]
    return ctx.plan(operands, ctx.output(_fused_output_params(sig.activation)), options_type, options)


@_builds("PRELU")
def _prelu(ctx: OpContext) -> OperatorPlan:
    (x,) = ctx.inputs()
    (alpha_shape,) = ctx.sig.const_inputs or ()  # PRELU requires it
    alpha = ctx.operand_constant("alpha", alpha_shape, 0.05, 0.3)
    return ctx.plan([x, alpha], ctx.output())


@_builds(*UNARY_OPS)
def _unary(ctx: OpContext) -> OperatorPlan:
    op = ctx.sig.op
    (x,) = ctx.inputs()
    if op in _FIXED_OUTPUT_PARAMS:
        params = _FIXED_OUTPUT_PARAMS[op]
    else:
        params = QuantParams.for_range(*_UNARY_OUTPUT_RANGES.get(op, (-4.0, 4.0)))
    y = ctx.output(params)
    if op == "SOFTMAX":
        options = schema.SoftmaxOptionsT()
        options.beta = 1.0
        return ctx.plan([x], y, Options.SoftmaxOptions, options)
    if op == "LEAKY_RELU":
        options = schema.LeakyReluOptionsT()
        options.alpha = 0.2
        return ctx.plan([x], y, Options.LeakyReluOptions, options)
    if op == "GELU":
        return ctx.plan([x], y, Options.GeluOptions, schema.GeluOptionsT())
    return ctx.plan([x], y)


# ---- data movement ------------------------------------------------------------------------


@_builds("CONCATENATION")
def _concatenation(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    options = schema.ConcatenationOptionsT()
    options.axis = sig.axis[0]
    options.fusedActivationFunction = ACTIVATION_CODES[sig.activation]
    # int8: the converter gives all inputs and the output one set of parameters.
    return ctx.plan(ctx.inputs(), ctx.output(), Options.ConcatenationOptions, options)


@_builds("PAD")
def _pad(ctx: OpContext) -> OperatorPlan:
    (x,) = ctx.inputs()
    paddings = ctx.int32_constant("paddings", ctx.sig.paddings)
    return ctx.plan([x, paddings], ctx.output(), Options.PadOptions, schema.PadOptionsT())


@_builds("RESHAPE")
def _reshape(ctx: OpContext) -> OperatorPlan:
    (x,) = ctx.inputs()
    shape = ctx.int32_constant("shape", ctx.sig.output)
    return ctx.plan([x, shape], ctx.output())


@_builds(*RESIZE_OPS)
def _resize(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    (x,) = ctx.inputs()
    size = ctx.int32_constant("size", sig.output[1:3])
    if sig.op == "RESIZE_BILINEAR":
        options_type, options = Options.ResizeBilinearOptions, schema.ResizeBilinearOptionsT()
    else:
        options_type, options = Options.ResizeNearestNeighborOptions, schema.ResizeNearestNeighborOptionsT()
    options.alignCorners = sig.align_corners
    options.halfPixelCenters = sig.half_pixel_centers
    return ctx.plan([x, size], ctx.output(), options_type, options)


@_builds("STRIDED_SLICE")
def _strided_slice(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    (x,) = ctx.inputs()
    end = [b + (n - 1) * s + 1 for b, n, s in zip(sig.begin, sig.output, sig.step)]
    operands = [
        x,
        ctx.int32_constant("begin", sig.begin),
        ctx.int32_constant("end", end),
        ctx.int32_constant("strides", sig.step),
    ]
    return ctx.plan(operands, ctx.output(), Options.StridedSliceOptions, schema.StridedSliceOptionsT())


@_builds("TILE")
def _tile(ctx: OpContext) -> OperatorPlan:
    (x,) = ctx.inputs()
    multiples = ctx.int32_constant("multiples", [o // i for i, o in zip(ctx.sig.inputs[0], ctx.sig.output)])
    return ctx.plan([x, multiples], ctx.output())


@_builds("TRANSPOSE")
def _transpose(ctx: OpContext) -> OperatorPlan:
    (x,) = ctx.inputs()
    return ctx.plan([x, ctx.int32_constant("perm", ctx.sig.perm)], ctx.output())


# ---- (de)quantization -----------------------------------------------------------------------


@_builds("QUANTIZE")
def _quantize(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    if sig.dtype == "float32":
        x = ctx.graph.add_input(sig.inputs[0], np.float32)
        y = ctx.graph.add_output(sig.output, np.int8, ACTIVATION_PARAMS.to_schema())
    else:
        x = ctx.graph.add_input(sig.inputs[0], np.int8, ACTIVATION_PARAMS.to_schema())
        y = ctx.graph.add_output(sig.output, np.int8, _REQUANTIZED_PARAMS.to_schema())
    return ctx.plan([x], y)


@_builds("DEQUANTIZE")
def _dequantize(ctx: OpContext) -> OperatorPlan:
    sig = ctx.sig
    x = ctx.graph.add_input(sig.inputs[0], np.int8, ACTIVATION_PARAMS.to_schema())
    y = ctx.graph.add_output(sig.output, np.float32)
    return ctx.plan([x], y)
