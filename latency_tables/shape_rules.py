"""Shape arithmetic of TFLite ops, used to reject signatures no model could have.

A signature whose output shape does not follow from its inputs and options would
build a model the interpreter silently reshapes, so its cost would be filed under the
wrong key: reject it instead, with the shape we expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from latency_tables.op_specs import ResolvedSignature, Shape

if TYPE_CHECKING:
    from latency_tables.signature import LayerSignature


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output length of a convolution/pooling window along one spatial axis (TFLite rules)."""
    if padding == "SAME":
        return math.ceil(size / stride)
    effective_kernel = (kernel - 1) * dilation + 1
    return max(0, math.ceil((size - effective_kernel + 1) / stride))


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy-style broadcast of `shapes`, or ValueError when they are incompatible."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    result = []
    for dims in zip(*padded):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {list(shapes)} do not broadcast")
        result.append(sizes.pop() if sizes else 1)
    return tuple(result)


def _fail(sig: ResolvedSignature, expected: object, what: str = "output") -> None:
    raise ValueError(f"{sig.op}: {what} shape {getattr(sig, what, None)} does not match, expected {expected}")


def _require_rank(sig: ResolvedSignature, rank: int) -> None:
    for shape in (*sig.inputs, sig.output):
        if len(shape) != rank:
            raise ValueError(f"{sig.op}: expected rank-{rank} (NHWC) tensors, got shape {shape}")


def _spatial_output(sig: ResolvedSignature, dilation: tuple[int, int]) -> tuple[int, int]:
    (_, h, w, _) = sig.inputs[0]
    return (
        conv_output_size(h, sig.kernel[0], sig.stride[0], dilation[0], sig.padding),
        conv_output_size(w, sig.kernel[1], sig.stride[1], dilation[1], sig.padding),
    )


def _check_conv(sig: ResolvedSignature) -> None:
    _require_rank(sig, 4)
    (n, _, _, c_in) = sig.inputs[0]
    c_out = sig.output[3]
    if c_in % sig.groups or c_out % sig.groups:
        raise ValueError(f"CONV_2D: groups={sig.groups} must divide input channels {c_in} and output channels {c_out}")
    expected = (n, *_spatial_output(sig, sig.dilation), c_out)
    if sig.output != expected:
        _fail(sig, expected)


def _check_depthwise(sig: ResolvedSignature) -> None:
    _require_rank(sig, 4)
    (n, _, _, c_in) = sig.inputs[0]
    expected = (n, *_spatial_output(sig, sig.dilation), c_in * sig.depth_multiplier)
    if sig.output != expected:
        _fail(sig, expected)


def _check_transpose_conv(sig: ResolvedSignature) -> None:
    _require_rank(sig, 4)
    # A transposed convolution is the gradient of a forward one: running that forward
    # convolution on the output must give back the input's spatial size.
    (n, h_out, w_out, _) = sig.output
    (n_in, h_in, w_in, _) = sig.inputs[0]
    forward = (
        conv_output_size(h_out, sig.kernel[0], sig.stride[0], 1, sig.padding),
        conv_output_size(w_out, sig.kernel[1], sig.stride[1], 1, sig.padding),
    )
    if n != n_in or forward != (h_in, w_in):
        raise ValueError(
            f"TRANSPOSE_CONV: output {sig.output} is not reachable from input {sig.inputs[0]} "
            f"with kernel {sig.kernel}, stride {sig.stride}, padding {sig.padding}"
        )


def _check_pool(sig: ResolvedSignature) -> None:
    _require_rank(sig, 4)
    (n, _, _, c) = sig.inputs[0]
    expected = (n, *_spatial_output(sig, (1, 1)), c)
    if sig.output != expected:
        _fail(sig, expected)


def _check_fully_connected(sig: ResolvedSignature) -> None:
    shape = sig.inputs[0]
    if len(shape) < 2 or len(sig.output) < 2:
        raise ValueError(f"FULLY_CONNECTED: input and output need rank >= 2, got {shape} -> {sig.output}")
    if len(sig.output) == len(shape):
        # keep_num_dims (or plain 2-D): every dimension but the last is kept
        if sig.output[:-1] != shape[:-1]:
            _fail(sig, (*shape[:-1], sig.output[-1]))
    elif len(sig.output) == 2:
        rows = math.prod(shape) // shape[-1]
        if sig.output[0] != rows:
            _fail(sig, (rows, sig.output[-1]))
    else:
        _fail(sig, f"rank {len(shape)} or 2")


def _check_reduce(sig: ResolvedSignature) -> None:
    shape = sig.inputs[0]
    if sig.keep_dims:
        expected = tuple(1 if i in sig.axis else d for i, d in enumerate(shape))
    else:
        expected = tuple(d for i, d in enumerate(shape) if i not in sig.axis)
    if sig.output != expected:
        _fail(sig, expected)


def _check_binary(sig: ResolvedSignature) -> None:
    operands = (*sig.inputs, *(sig.const_inputs or ()))
    try:
        expected = broadcast_shapes(*operands)
    except ValueError as error:
        raise ValueError(f"{sig.op}: {error}") from None
    if sig.output != expected:
        _fail(sig, expected)


def _check_prelu(sig: ResolvedSignature) -> None:
    (alpha,) = sig.const_inputs or ()
    try:
        broadcast = broadcast_shapes(sig.inputs[0], alpha)
    except ValueError:
        broadcast = None
    if broadcast != sig.inputs[0]:
        raise ValueError(f"PRELU: alpha shape {alpha} does not broadcast to input {sig.inputs[0]}")
    _check_same_shape(sig)


def _check_concatenation(sig: ResolvedSignature) -> None:
    (axis,) = sig.axis
    first = sig.inputs[0]
    for shape in sig.inputs[1:]:
        if len(shape) != len(first) or any(a != b for i, (a, b) in enumerate(zip(first, shape)) if i != axis):
            raise ValueError(f"CONCATENATION: inputs {list(sig.inputs)} differ outside axis {axis}")
    expected = tuple(sum(s[axis] for s in sig.inputs) if i == axis else d for i, d in enumerate(first))
    if sig.output != expected:
        _fail(sig, expected)


def _check_pad(sig: ResolvedSignature) -> None:
    shape = sig.inputs[0]
    if len(sig.paddings) != len(shape):
        raise ValueError(f"PAD: paddings {sig.paddings} need one (before, after) pair per input dimension {shape}")
    expected = tuple(d + before + after for d, (before, after) in zip(shape, sig.paddings))
    if sig.output != expected:
        _fail(sig, expected)


def _check_reshape(sig: ResolvedSignature) -> None:
    if math.prod(sig.inputs[0]) != math.prod(sig.output):
        raise ValueError(f"RESHAPE: {sig.inputs[0]} and {sig.output} hold different numbers of elements")


def _check_resize(sig: ResolvedSignature) -> None:
    _require_rank(sig, 4)
    (n, _, _, c) = sig.inputs[0]
    if (sig.output[0], sig.output[3]) != (n, c):
        _fail(sig, (n, "H", "W", c))
    if sig.align_corners and sig.half_pixel_centers:
        raise ValueError(f"{sig.op}: align_corners and half_pixel_centers are mutually exclusive")


def _check_strided_slice(sig: ResolvedSignature) -> None:
    shape = sig.inputs[0]
    if not len(sig.begin) == len(sig.step) == len(shape) == len(sig.output):
        raise ValueError(
            f"STRIDED_SLICE: begin {sig.begin}, step {sig.step} and output {sig.output} need rank {len(shape)}"
        )
    for dim, start, step, size in zip(shape, sig.begin, sig.step, sig.output):
        if step < 1 or not 0 <= start < dim or start + (size - 1) * step >= dim:
            raise ValueError(
                f"STRIDED_SLICE: slice begin={sig.begin} step={sig.step} output={sig.output} leaves input {shape}"
            )


def _check_tile(sig: ResolvedSignature) -> None:
    shape = sig.inputs[0]
    if len(sig.output) != len(shape) or any(o % i for i, o in zip(shape, sig.output)):
        raise ValueError(f"TILE: output {sig.output} is not a whole multiple of input {shape}")


def _check_transpose(sig: ResolvedSignature) -> None:
    shape = sig.inputs[0]
    if sorted(sig.perm) != list(range(len(shape))):
        raise ValueError(f"TRANSPOSE: perm {sig.perm} is not a permutation of the {len(shape)} input axes")
    expected = tuple(shape[p] for p in sig.perm)
    if sig.output != expected:
        _fail(sig, expected)


def _check_same_shape(sig: ResolvedSignature) -> None:
    if sig.output != sig.inputs[0]:
        _fail(sig, sig.inputs[0])


_CHECKS: dict[str, Callable[[ResolvedSignature], None]] = {
    "CONV_2D": _check_conv,
    "DEPTHWISE_CONV_2D": _check_depthwise,
    "TRANSPOSE_CONV": _check_transpose_conv,
    "FULLY_CONNECTED": _check_fully_connected,
    "MAX_POOL_2D": _check_pool,
    "AVERAGE_POOL_2D": _check_pool,
    "MEAN": _check_reduce,
    "SUM": _check_reduce,
    "REDUCE_MAX": _check_reduce,
    "ADD": _check_binary,
    "SUB": _check_binary,
    "MUL": _check_binary,
    "MAXIMUM": _check_binary,
    "MINIMUM": _check_binary,
    "PRELU": _check_prelu,
    "CONCATENATION": _check_concatenation,
    "PAD": _check_pad,
    "RESHAPE": _check_reshape,
    "RESIZE_BILINEAR": _check_resize,
    "RESIZE_NEAREST_NEIGHBOR": _check_resize,
    "STRIDED_SLICE": _check_strided_slice,
    "TILE": _check_tile,
    "TRANSPOSE": _check_transpose,
}


def check_shapes(sig: LayerSignature) -> None:
    """Raise ValueError unless `sig.output` follows from its inputs and options (set)."""
    _CHECKS.get(sig.op, _check_same_shape)(cast(ResolvedSignature, sig))
