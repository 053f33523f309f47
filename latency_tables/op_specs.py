"""Which TFLite ops a LayerSignature may describe, and which options each one carries.

An option that an op does not list must stay None in its signature; a listed option
with a default is filled in when omitted. Both rules exist so that two signatures of
the same layer always serialise to the same key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

REQUIRED: Any = object()  # marker: the option has no default and must be given

DTYPES = ("float32", "int8")
PADDINGS = ("SAME", "VALID")
# Fused activations the converter emits (TFLite also defines SIGN_BIT, never fused).
ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH")

# Every option field of LayerSignature, in declaration order.
OPTION_FIELDS = (
    "kernel",
    "stride",
    "padding",
    "dilation",
    "depth_multiplier",
    "groups",
    "activation",
    "axis",
    "keep_dims",
    "paddings",
    "begin",
    "step",
    "perm",
    "const_inputs",
    "align_corners",
    "half_pixel_centers",
)

Shape = tuple[int, ...]


class ResolvedSignature(Protocol):
    """A LayerSignature as its op's shape rule and model recipe read it.

    LayerSignature.__post_init__ sets every option its op lists (given, or the default;
    REQUIRED ones must be given), so the options a rule or recipe of that op reads are
    never None, which the field types (None for the options of other ops) cannot say.
    """

    op: str
    inputs: tuple[Shape, ...]
    output: Shape
    dtype: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: str
    dilation: tuple[int, int]
    depth_multiplier: int
    groups: int
    activation: str
    axis: tuple[int, ...]
    keep_dims: bool
    paddings: tuple[tuple[int, int], ...]
    begin: tuple[int, ...]
    step: tuple[int, ...]
    perm: tuple[int, ...]
    const_inputs: tuple[Shape, ...] | None  # optional for ADD/MUL/...; PRELU requires it
    align_corners: bool
    half_pixel_centers: bool


@dataclass(frozen=True)
class OpSpec:
    """What a signature of one op looks like.

    `min_inputs`/`max_inputs` count activation inputs only; `operands` (when set) is
    the number of activation inputs plus constant operands (`const_inputs`) the op
    takes, e.g. 2 for ADD whether its second operand is a tensor or a constant.
    """

    name: str
    min_inputs: int = 1
    max_inputs: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    operands: int | None = None


_CONV_WINDOW = {"kernel": REQUIRED, "stride": REQUIRED, "padding": REQUIRED}
_FUSED = {"activation": "NONE"}
_BINARY = {"min_inputs": 1, "max_inputs": 2, "operands": 2}


def _spec(name: str, **kwargs: Any) -> OpSpec:
    return OpSpec(name=name, **kwargs)


_SPECS = [
    _spec("CONV_2D", options={**_CONV_WINDOW, "dilation": (1, 1), "groups": 1, **_FUSED}),
    _spec(
        "DEPTHWISE_CONV_2D",
        options={**_CONV_WINDOW, "dilation": (1, 1), "depth_multiplier": 1, **_FUSED},
    ),
    _spec("TRANSPOSE_CONV", options={**_CONV_WINDOW, **_FUSED}),
    _spec("FULLY_CONNECTED", options={**_FUSED}),
    _spec("MAX_POOL_2D", options={**_CONV_WINDOW, **_FUSED}),
    _spec("AVERAGE_POOL_2D", options={**_CONV_WINDOW, **_FUSED}),
    _spec("MEAN", options={"axis": REQUIRED, "keep_dims": False}),
    _spec("SUM", options={"axis": REQUIRED, "keep_dims": False}),
    _spec("REDUCE_MAX", options={"axis": REQUIRED, "keep_dims": False}),
    _spec("ADD", options={**_FUSED, "const_inputs": None}, **_BINARY),
    _spec("SUB", options={**_FUSED, "const_inputs": None}, **_BINARY),
    _spec("MUL", options={**_FUSED, "const_inputs": None}, **_BINARY),
    _spec("MAXIMUM", options={"const_inputs": None}, **_BINARY),
    _spec("MINIMUM", options={"const_inputs": None}, **_BINARY),
    _spec("CONCATENATION", max_inputs=1024, options={"axis": REQUIRED, **_FUSED}),
    _spec("PAD", options={"paddings": REQUIRED}),
    _spec("RESHAPE"),
    _spec("SOFTMAX"),
    _spec("LOGISTIC"),
    _spec("TANH"),
    _spec("RELU"),
    _spec("RELU6"),
    _spec("LEAKY_RELU"),
    _spec("HARD_SWISH"),
    _spec("GELU"),
    _spec("PRELU", options={"const_inputs": REQUIRED}, operands=2),
    _spec("RESIZE_BILINEAR", options={"align_corners": False, "half_pixel_centers": False}),
    _spec("RESIZE_NEAREST_NEIGHBOR", options={"align_corners": False, "half_pixel_centers": False}),
    # `step` defaults to all ones, a value that depends on the rank: filled in by
    # the signature itself.
    _spec("STRIDED_SLICE", options={"begin": REQUIRED, "step": None}),
    _spec("TILE"),
    _spec("TRANSPOSE", options={"perm": REQUIRED}),
    _spec("QUANTIZE"),
    _spec("DEQUANTIZE"),
]

OP_SPECS: dict[str, OpSpec] = {spec.name: spec for spec in _SPECS}
SUPPORTED_OPS: tuple[str, ...] = tuple(sorted(OP_SPECS))


def op_spec(op: str) -> OpSpec:
    """The spec of `op`, or a ValueError naming the supported ops."""
    try:
        return OP_SPECS[op]
    except KeyError:
        raise ValueError(
            f"unknown or unsupported op {op!r}; supported: {', '.join(SUPPORTED_OPS)}"
        ) from None


# Ops whose signatures carry the same options, so one builder and one reader serve each family.
POOL_OPS = ("MAX_POOL_2D", "AVERAGE_POOL_2D")
REDUCE_OPS = ("MEAN", "SUM", "REDUCE_MAX")
BINARY_OPS = ("ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM")
UNARY_OPS = ("SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "HARD_SWISH", "GELU")
RESIZE_OPS = ("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")

Handler = TypeVar("Handler", bound=Callable[..., Any])


def op_registrar(table: dict[str, Handler]) -> Callable[..., Callable[[Handler], Handler]]:
    """A decorator factory: `@handles("CONV_2D")` files the function in `table` under each
    op it names, which must have a spec (op_spec raises for any other)."""

    def handles(*ops: str) -> Callable[[Handler], Handler]:
        def register(function: Handler) -> Handler:
            for op in ops:
                table[op_spec(op).name] = function
            return function

        return register

    return handles
