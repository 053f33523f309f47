"""The TFLite operators of a pruned Keras model, derived from its channel graph alone.

NetAdapt prices many channel configurations per iteration, and a model's table cost is
the sum over the LayerSignatures of the ops its .tflite holds. Converting every candidate
takes 0.5-3 s, so the signatures are derived here from the ChannelGraph instead: spatial
sizes never change under channel pruning, only the last axis does, and how the converter
lowers each layer is known. tests/costs check that the result equals
`signatures_from_tflite(to_device_tflite(prune(model, keep)))` for the zoo and Keras'
MobileNetV2, float32 and int8.

Layers are visited in graph order. Each becomes zero or more ops, and what the converter
fuses is replayed as it happens, against the op that produced a layer's input:

- BatchNormalization folds into a preceding CONV_2D / DEPTHWISE_CONV_2D / TRANSPOSE_CONV /
  FULLY_CONNECTED without a fused activation; anywhere else it is MUL + ADD by [C]
  constants. A scalar Rescaling folds the same way, and also forward into convolutions
  (only the MUL unless they all pad VALID); otherwise it is MUL and/or ADD by scalars.
- ReLU / ReLU6 fuse into the activation of CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
  FULLY_CONNECTED, ADD, SUB, MUL, MAX_POOL_2D, AVERAGE_POOL_2D (not CONCATENATION, MEAN,
  MAXIMUM); repeating the same one is a no-op. Other activations are ops of their own
  (sigmoid LOGISTIC, swish LOGISTIC + MUL, ...).
- ZeroPadding2D before a VALID Conv2D / DepthwiseConv2D whose padding equals SAME's
  disappears into a SAME convolution.
- A (C,) -> (1, 1, C) Reshape feeding only Multiply disappears (MUL broadcasts the (1, C)
  tensor); otherwise, right after GlobalAveragePooling2D, it turns the MEAN into keep_dims.

A fold needs the producing op's output to be read by this one layer only (through
layers that vanish, such as Dropout). int8 lowers like float32, except that MAXIMUM and
MINIMUM get requantizing QUANTIZE ops that depend on calibration. Those, and layers
without a rule, raise UnsupportedForTables instead of returning a wrong cost.

Not modelled, because the graph cannot tell:
- Weight values. Trained weights are assumed: an untrained standalone BatchNormalization
  (beta = mean = 0) loses its ADD, an all-zero PReLU alpha may become RELU. Zero biases
  vanish too, which changes no signature.
- Common subexpressions, which the converter merges: Add([a, b]) and Average([a, b, c])
  share one ADD (which then cannot take a fused ReLU); here each layer has its own.
"""

from __future__ import annotations

import functools
import math
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from latency_tables.signature import LayerSignature
from service.surgery.graph import ChannelGraph, LayerNode
from service.surgery.layer_roles import INFERENCE_IDENTITIES, activation_name

Shape = tuple[int, ...]
SignatureFn = Callable[[Mapping[str, int]], list[LayerSignature]]

DTYPES = ("float32", "int8")
# Distinct channel configurations remembered per signature_fn; a NetAdapt iteration asks
# for a few hundred, and a cached entry is a few KB.
CACHE_SIZE = 4096


class UnsupportedForTables(ValueError):
    """A layer whose TFLite lowering this module does not know, so its cost is unknown."""

    def __init__(self, layer_name: str, class_name: str, reason: str = "") -> None:
        self.layer_name = layer_name
        self.class_name = class_name
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"layer '{layer_name}' of class {class_name} cannot be priced from lookup "
            f"tables{detail}. Use the analytic cost metrics (macs, params) for this model, "
            "or replace the layer with a supported one."
        )


# ---- public API ----------------------------------------------------------------------


def signatures_for_config(
    graph: ChannelGraph, counts: Mapping[str, int] | None = None, dtype: str = "float32"
) -> list[LayerSignature]:
    """One signature per op the converter emits for the model pruned to `counts`
    (group id -> channels; groups left out keep all), in graph order."""
    _check_dtype(dtype)
    facts = _facts_of(graph)
    return list(_derive(graph, facts, _config_key(graph, facts, counts or {}), dtype))


def signature_fn(graph: ChannelGraph, dtype: str = "float32") -> SignatureFn:
    """`signatures_for_config` bound to one graph and dtype, remembering recent results
    (configurations that differ only in how groups are named or defaulted share one)."""
    _check_dtype(dtype)
    facts = _facts_of(graph)

    @functools.lru_cache(maxsize=CACHE_SIZE)
    def for_key(key: tuple[int, ...]) -> tuple[LayerSignature, ...]:
        return _derive(graph, facts, key, dtype)

    def signatures(counts: Mapping[str, int]) -> list[LayerSignature]:
        return list(for_key(_config_key(graph, facts, counts)))

    signatures.cache_info = for_key.cache_info  # type: ignore[attr-defined]
    return signatures


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")


# ---- facts about a graph that no configuration changes ------------------------------


@dataclass(frozen=True)
class _GraphFacts:
    prunable: tuple[str, ...]  # prunable group ids: the config key is their counts
    uses: dict[str, int]  # layer -> how many layer inputs read its output
    consumers: dict[str, list[LayerNode]]


_FACTS: "weakref.WeakKeyDictionary[ChannelGraph, _GraphFacts]" = weakref.WeakKeyDictionary()


def _facts_of(graph: ChannelGraph) -> _GraphFacts:
    facts = _FACTS.get(graph)
    if facts is None:
        consumers: dict[str, list[LayerNode]] = {n.name: [] for n in graph.nodes}
        for node in graph.nodes:
            for name in node.input_names:
                consumers[name].append(node)
        # A model output is read once more, by the caller: the converter never fuses into it.
        outputs = set(graph.output_layers)
        uses = {
            name: len(readers) + (1 if name in outputs else 0) for name, readers in consumers.items()
        }
        prunable = tuple(g.id for g in graph.prunable_groups)
        facts = _GraphFacts(prunable, uses, consumers)
        _FACTS[graph] = facts
    return facts


def _config_key(graph: ChannelGraph, facts: _GraphFacts, counts: Mapping[str, int]) -> tuple[int, ...]:
    """The configured count of every prunable group, in a fixed order."""
    for group_id, count in counts.items():
        group = graph.group_by_id.get(group_id)
        if group is None:
            known = ", ".join(facts.prunable)
            raise ValueError(f"unknown channel group '{group_id}'; prunable groups: {known}")
        if not 1 <= int(count) <= group.channels:
            raise ValueError(f"group '{group_id}' has {group.channels} channels; got a count of {count}")
        if not group.prunable and int(count) != group.channels:
            raise ValueError(f"channel group '{group_id}' cannot be pruned ({group.frozen_reason})")
    return tuple(int(counts.get(g, graph.group_by_id[g].channels)) for g in facts.prunable)


# ---- the derivation ------------------------------------------------------------------


@dataclass
class _Op:
    """An op under construction: later layers may still fuse into it or remove it."""

    op: str
    inputs: list[Shape]
    output: Shape
    options: dict[str, Any] = field(default_factory=dict)
    removed: bool = False


@dataclass(frozen=True)
class _Value:
    """A layer's output as the .tflite holds it."""

    shape: Shape  # can differ from the Keras shape where a reshape vanished
    op: _Op | None  # the op that computes it; None for model inputs
    exclusive: bool  # only the layers along one chain ending here read `op`'s output


def _derive(
    graph: ChannelGraph, facts: _GraphFacts, key: tuple[int, ...], dtype: str
) -> tuple[LayerSignature, ...]:
    widths = graph.space_channels(dict(zip(facts.prunable, key)))
    ops: list[_Op] = []
    values: dict[str, _Value] = {}
    for node in graph.nodes:
        inputs = [values[name] for name in node.input_names]
        layer = _Layer(node, inputs, _shape(graph, node, widths), facts, ops, dtype)
        handler = _HANDLERS.get(node.class_name)
        if handler is None:
            raise layer.unsupported("no rule for how the TFLite converter lowers this layer")
        values[node.name] = handler(layer)
    return tuple(
        LayerSignature(op=o.op, inputs=tuple(o.inputs), output=o.output, dtype=dtype, **o.options)
        for o in ops
        if not o.removed
    )


def _shape(graph: ChannelGraph, node: LayerNode, widths: Mapping[int, int]) -> Shape:
    """`node`'s output shape with batch 1 and the configured channel count."""
    inner = node.output_shape[1:-1]
    if any(d is None for d in inner):
        raise UnsupportedForTables(node.name, node.class_name, "device models need fixed spatial sizes")
    return (1, *(int(d) for d in inner), graph.layout_width(node.output, widths))


@dataclass
class _Layer:
    """What a layer rule sees: the node, its input values and configured output shape."""

    node: LayerNode
    inputs: list[_Value]
    shape: Shape
    facts: _GraphFacts
    ops: list[_Op]
    dtype: str

    @property
    def config(self) -> dict[str, Any]:
        return self.node.config

    @property
    def consumers(self) -> list[LayerNode]:
        return self.facts.consumers[self.node.name]

    def emit(self, op: str, inputs: list[Shape], output: Shape | None = None, **options: Any) -> _Value:
        new = _Op(op, list(inputs), self.shape if output is None else output, options)
        self.ops.append(new)
        return _Value(new.output, new, exclusive=True)

    def open_op(self, index: int = 0) -> _Op | None:
        """The op computing input `index` if nothing but this layer reads its output: only
        then can the converter fuse this layer into it."""
        value = self.inputs[index]
        if value.op is None or not value.exclusive or self.facts.uses[self.node.input_names[index]] != 1:
            return None
        return value.op

    def alias(self, index: int = 0) -> _Value:
        """This layer's output is input `index` itself (the layer vanished or fused)."""
        value = self.inputs[index]
        return _Value(value.shape, value.op, self.open_op(index) is not None)

    def unsupported(self, reason: str) -> UnsupportedForTables:
        return UnsupportedForTables(self.node.name, self.node.class_name, reason)


# ---- activations ---------------------------------------------------------------------

# Ops with a fused-activation field that the converter actually fills in.
_FUSES_ACTIVATION = {
    "CONV_2D",
    "DEPTHWISE_CONV_2D",
    "TRANSPOSE_CONV",
    "FULLY_CONNECTED",
    "ADD",
    "SUB",
    "MUL",
    "MAX_POOL_2D",
    "AVERAGE_POOL_2D",
}
_FUSABLE_ACTIVATIONS = {"relu": "RELU", "relu6": "RELU6"}
_ACTIVATION_OPS = {
    "sigmoid": "LOGISTIC",
    "tanh": "TANH",
    "gelu": "GELU",
    "hard_swish": "HARD_SWISH",
    "hard_silu": "HARD_SWISH",
    "leaky_relu": "LEAKY_RELU",
    "softmax": "SOFTMAX",
}


def _takes_activation(op: _Op) -> bool:
    return op.op in _FUSES_ACTIVATION and op.options["activation"] == "NONE"


def _activate(layer: _Layer, value: _Value, open_op: _Op | None, name: str) -> _Value:
    """`value` after activation `name`; `open_op` is the op it may fuse into, if any."""
    if name == "linear":
        return value
    fused = _FUSABLE_ACTIVATIONS.get(name)
    if fused is not None:
        producer = value.op
        if producer is not None and fused in (producer.op, producer.options.get("activation")):
            return _Value(value.shape, producer, open_op is not None)  # relu(relu(x)) == relu(x)
        if open_op is not None and _takes_activation(open_op):
            open_op.options["activation"] = fused
            return _Value(value.shape, open_op, True)
        return layer.emit(fused, [value.shape], value.shape)
    if name in ("swish", "silu"):
        sigmoid = layer.emit("LOGISTIC", [value.shape], value.shape)
        return layer.emit("MUL", [value.shape, sigmoid.shape], value.shape, activation="NONE")
    op = _ACTIVATION_OPS.get(name)
    if op is None:
        raise layer.unsupported(f"activation '{name}' has no lookup-table rule")
    return layer.emit(op, [value.shape], value.shape)


def _relu_layer_activation(layer: _Layer) -> str:
    cfg = layer.config
    max_value = cfg.get("max_value")
    slope = float(cfg.get("negative_slope") or 0.0)
    if float(cfg.get("threshold") or 0.0) != 0.0:
        raise layer.unsupported("a non-zero threshold lowers to GREATER + SELECT_V2")
    if slope:
        if max_value is None:
            return "leaky_relu"
        raise layer.unsupported("negative_slope together with max_value")
    if max_value is None:
        return "relu"
    if float(max_value) == 6.0:
        return "relu6"
    raise layer.unsupported(f"max_value={max_value} lowers to RELU + MINIMUM; only 6 fuses")


def _activation_layer(layer: _Layer) -> _Value:
    if layer.node.class_name == "ReLU":
        name = _relu_layer_activation(layer)
    elif layer.node.class_name == "LeakyReLU":
        name = "leaky_relu"
    elif layer.node.class_name == "Softmax":
        axis = layer.config.get("axis", -1)
        axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
        if axis not in (-1, len(layer.shape) - 1):
            raise layer.unsupported(f"softmax over axis {axis}; TFLite's SOFTMAX is over the last axis")
        name = "softmax"
    else:
        name = activation_name(layer.config)
    return _activate(layer, layer.inputs[0], layer.open_op(0), name)


def _prelu(layer: _Layer) -> _Value:
    value = layer.inputs[0]
    alpha = tuple(layer.node.weight_shapes[0])
    if alpha[-1] != 1:  # one alpha per channel: it shrinks with the channels
        alpha = (*alpha[:-1], value.shape[-1])
    return layer.emit("PRELU", [value.shape], value.shape, const_inputs=[alpha])


# ---- weighted layers -----------------------------------------------------------------

_FOLDS_AFFINE = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"}
_CONVOLUTIONS = {"Conv2D", "DepthwiseConv2D", "SeparableConv2D"}


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    first, second = value
    return (int(first), int(second))


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) zeros TensorFlow's SAME padding adds along one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return (total // 2, total - total // 2)


def _unpadded_input(layer: _Layer) -> tuple[Shape, str]:
    """Input shape and padding of a convolution, absorbing a ZeroPadding2D that pads
    exactly as SAME would (the converter turns PAD + VALID conv into a SAME conv)."""
    cfg = layer.config
    padding = cfg["padding"].upper()
    pad = layer.open_op(0)
    if padding != "VALID" or pad is None or pad.op != "PAD":
        return layer.inputs[0].shape, padding
    source = pad.inputs[0]
    kernel, stride = _pair(cfg["kernel_size"]), _pair(cfg["strides"])
    dilation = _pair(cfg.get("dilation_rate", 1))
    same = [_same_padding(source[1 + a], kernel[a], stride[a], dilation[a]) for a in (0, 1)]
    same = [(0, 0), *same, (0, 0)]
    if list(pad.options["paddings"]) != same:
        return layer.inputs[0].shape, padding
    pad.removed = True
    return source, "SAME"


def _conv2d(layer: _Layer) -> _Value:
    cfg = layer.config
    source, padding = _unpadded_input(layer)
    conv = layer.emit(
        "CONV_2D",
        [source],
        kernel=_pair(cfg["kernel_size"]),
        stride=_pair(cfg["strides"]),
        padding=padding,
        dilation=_pair(cfg.get("dilation_rate", 1)),
        groups=int(cfg.get("groups", 1)),
        activation="NONE",
    )
    return _activate(layer, conv, conv.op, activation_name(cfg))


def _depthwise_conv2d(layer: _Layer) -> _Value:
    cfg = layer.config
    source, padding = _unpadded_input(layer)
    conv = layer.emit(
        "DEPTHWISE_CONV_2D",
        [source],
        kernel=_pair(cfg["kernel_size"]),
        stride=_pair(cfg["strides"]),
        padding=padding,
        dilation=_pair(cfg.get("dilation_rate", 1)),
        depth_multiplier=int(cfg.get("depth_multiplier", 1)),
        activation="NONE",
    )
    return _activate(layer, conv, conv.op, activation_name(cfg))


def _separable_conv2d(layer: _Layer) -> _Value:
    """DEPTHWISE_CONV_2D, then a 1x1 CONV_2D that carries the activation."""
    cfg = layer.config
    source, padding = _unpadded_input(layer)
    multiplier = int(cfg.get("depth_multiplier", 1))
    depthwise = layer.emit(
        "DEPTHWISE_CONV_2D",
        [source],
        (*layer.shape[:-1], source[-1] * multiplier),
        kernel=_pair(cfg["kernel_size"]),
        stride=_pair(cfg["strides"]),
        padding=padding,
        dilation=_pair(cfg.get("dilation_rate", 1)),
        depth_multiplier=multiplier,
        activation="NONE",
    )
    pointwise = layer.emit(
        "CONV_2D", [depthwise.shape], kernel=(1, 1), stride=(1, 1), padding="VALID", activation="NONE"
    )
    return _activate(layer, pointwise, pointwise.op, activation_name(cfg))


def _conv2d_transpose(layer: _Layer) -> _Value:
    cfg = layer.config
    if cfg.get("output_padding") is not None or _pair(cfg.get("dilation_rate", 1)) != (1, 1):
        raise layer.unsupported("output_padding or dilation")
    conv = layer.emit(
        "TRANSPOSE_CONV",
        [layer.inputs[0].shape],
        kernel=_pair(cfg["kernel_size"]),
        stride=_pair(cfg["strides"]),
        padding=cfg["padding"].upper(),
        activation="NONE",
    )
    return _activate(layer, conv, conv.op, activation_name(cfg))


def _dense(layer: _Layer) -> _Value:
    dense = layer.emit("FULLY_CONNECTED", [layer.inputs[0].shape], activation="NONE")
    return _activate(layer, dense, dense.op, activation_name(layer.config))


# ---- per-channel affine layers -------------------------------------------------------


def _folds_into_producer(layer: _Layer) -> bool:
    producer = layer.open_op(0)
    return producer is not None and producer.op in _FOLDS_AFFINE and producer.options["activation"] == "NONE"


def _affine(layer: _Layer, constant: Shape, scale: bool = True, offset: bool = True) -> _Value:
    """x * scale + offset with constants of shape `constant`: MUL then ADD."""
    value = layer.inputs[0]
    if scale:
        value = layer.emit("MUL", [value.shape], value.shape, const_inputs=[constant], activation="NONE")
    if offset:
        value = layer.emit("ADD", [value.shape], value.shape, const_inputs=[constant], activation="NONE")
    return value


def _batch_norm(layer: _Layer) -> _Value:
    if _folds_into_producer(layer):
        return layer.alias()
    return _affine(layer, (layer.inputs[0].shape[-1],))


def _scalar(layer: _Layer, key: str, default: float) -> float:
    value = layer.config.get(key, default)
    while isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise layer.unsupported(f"per-channel {key}")
        value = value[0]
    return float(value)


def _rescaling(layer: _Layer) -> _Value:
    scale, offset = _scalar(layer, "scale", 1.0) != 1.0, _scalar(layer, "offset", 0.0) != 0.0
    if not (scale or offset) or _folds_into_producer(layer):
        return layer.alias()
    # The converter also folds a scalar affine into the weights of the convolutions that
    # read it, the offset only where no zero padding would see it.
    convolutions = [c for c in layer.consumers if c.class_name in _CONVOLUTIONS]
    if convolutions and len(convolutions) == len(layer.consumers):
        if not offset or all(c.config["padding"] == "valid" for c in convolutions):
            return layer.alias()
    elif convolutions:
        raise layer.unsupported("feeds convolutions and other layers; which of its ops fold away is untested")
    return _affine(layer, (), scale, offset)


# ---- pooling -------------------------------------------------------------------------


def _pool(layer: _Layer) -> _Value:
    cfg = layer.config
    size = _pair(cfg["pool_size"])
    op = "MAX_POOL_2D" if layer.node.class_name == "MaxPooling2D" else "AVERAGE_POOL_2D"
    return layer.emit(
        op,
        [layer.inputs[0].shape],
        kernel=size,
        stride=_pair(cfg.get("strides") or size),
        padding=cfg["padding"].upper(),
        activation="NONE",
    )


def _global_pool(layer: _Layer) -> _Value:
    source = layer.inputs[0].shape
    keep_dims = bool(layer.config.get("keepdims", False))
    if len(source) != 4:
        raise layer.unsupported(f"input of rank {len(source)}; expected (1, H, W, C)")
    if keep_dims and source[1:3] == (1, 1):
        return layer.alias()  # a reduction over 1x1 that keeps its dims is the identity
    op = "MEAN" if layer.node.class_name == "GlobalAveragePooling2D" else "REDUCE_MAX"
    return layer.emit(op, [source], axis=(1, 2), keep_dims=keep_dims)


# ---- merges --------------------------------------------------------------------------

_MERGE_OPS = {
    "Add": "ADD",
    "Average": "ADD",
    "Subtract": "SUB",
    "Multiply": "MUL",
    "Maximum": "MAXIMUM",
    "Minimum": "MINIMUM",
}


def _broadcast(layer: _Layer, a: Shape, b: Shape) -> Shape:
    rank = max(len(a), len(b))
    a1, b1 = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a1, b1)):
        raise layer.unsupported(f"inputs of shapes {a} and {b} do not broadcast")
    return tuple(max(x, y) for x, y in zip(a1, b1))


def _elementwise(layer: _Layer) -> _Value:
    cls = layer.node.class_name
    op = _MERGE_OPS[cls]
    if layer.dtype == "int8" and op in ("MAXIMUM", "MINIMUM"):
        raise layer.unsupported(
            "int8 MAXIMUM/MINIMUM need equal input scales; the converter inserts requantizing "
            "QUANTIZE ops that depend on calibration"
        )
    shapes = [v.shape for v in layer.inputs]
    if cls != "Multiply" and len(set(shapes)) > 1:
        raise layer.unsupported(f"broadcasting {shapes}: the converter reshapes such operands unpredictably")
    options = {"activation": "NONE"} if op in _FUSES_ACTIVATION else {}
    result = shapes[0]
    value = None
    for other in shapes[1:]:  # n inputs: a chain of n - 1 binary ops
        out = _broadcast(layer, result, other)
        value = layer.emit(op, [result, other], out, **options)
        result = out
    if cls == "Average":
        value = layer.emit("MUL", [result], result, const_inputs=[()], activation="NONE")
    assert value is not None, "Keras merges take at least two inputs"
    return value


def _concatenate(layer: _Layer) -> _Value:
    rank = len(layer.shape)
    axis = int(layer.config.get("axis", -1)) % rank
    return layer.emit("CONCATENATION", [v.shape for v in layer.inputs], axis=(axis,), activation="NONE")


# ---- shape layers --------------------------------------------------------------------

_BROADCASTING_MERGES = {"Add", "Subtract", "Average", "Maximum", "Minimum"}


def _flatten(layer: _Layer) -> _Value:
    source = layer.inputs[0].shape
    if len(source) == 2:
        return layer.alias()
    return layer.emit("RESHAPE", [source], (1, math.prod(source[1:])))


def _reshape(layer: _Layer) -> _Value:
    source = layer.inputs[0].shape
    if source == layer.shape:
        return layer.alias()
    if len(source) == 2 and layer.shape == (1, 1, 1, source[-1]):  # (C,) -> (1, 1, C): squeeze-excite
        if any(c.class_name in _BROADCASTING_MERGES for c in layer.consumers):
            raise layer.unsupported("(C,) -> (1, 1, C) before a broadcasting Add-like merge")
        if layer.consumers and all(c.class_name == "Multiply" for c in layer.consumers):
            return layer.alias()  # MUL broadcasts the (1, C) tensor as it is
        mean = layer.open_op(0)
        if mean is not None and mean.op == "MEAN" and not mean.options["keep_dims"]:
            mean.options["keep_dims"] = True
            mean.output = layer.shape
            return _Value(layer.shape, mean, True)
    return layer.emit("RESHAPE", [source])


def _zero_padding(layer: _Layer) -> _Value:
    (top, bottom), (left, right) = (_pair(p) for p in layer.config["padding"])
    paddings = ((0, 0), (top, bottom), (left, right), (0, 0))
    return layer.emit("PAD", [layer.inputs[0].shape], paddings=paddings)


def _cropping(layer: _Layer) -> _Value:
    (top, _), (left, _) = (_pair(c) for c in layer.config["cropping"])
    return layer.emit("STRIDED_SLICE", [layer.inputs[0].shape], begin=(0, top, left, 0))


def _upsampling(layer: _Layer) -> _Value:
    source = layer.inputs[0].shape
    interpolation = layer.config.get("interpolation", "nearest")
    if interpolation == "bilinear":
        return layer.emit("RESIZE_BILINEAR", [source], align_corners=False, half_pixel_centers=True)
    if interpolation != "nearest":
        raise layer.unsupported(f"interpolation '{interpolation}'")
    # Nearest neighbour: per scaled axis, insert a unit axis after it, TILE it, fold it back.
    (_, h, w, c) = source
    sh, sw = _pair(layer.config["size"])
    value = layer.inputs[0]
    if sh > 1:
        value = layer.emit("RESHAPE", [value.shape], (1, h, 1, w, c))
        value = layer.emit("TILE", [value.shape], (1, h, sh, w, c))
    if sw > 1:
        value = layer.emit("RESHAPE", [value.shape], (1, h * sh, w, 1, c))
        value = layer.emit("TILE", [value.shape], (1, h * sh, w, sw, c))
    if value is layer.inputs[0]:
        return layer.alias()
    return layer.emit("RESHAPE", [value.shape])


# ---- registry ------------------------------------------------------------------------


def _input(layer: _Layer) -> _Value:
    return _Value(layer.shape, None, exclusive=False)


def _vanishes(layer: _Layer) -> _Value:
    return layer.alias()


_HANDLERS: dict[str, Callable[[_Layer], _Value]] = {
    "InputLayer": _input,
    "Conv2D": _conv2d,
    "DepthwiseConv2D": _depthwise_conv2d,
    "SeparableConv2D": _separable_conv2d,
    "Conv2DTranspose": _conv2d_transpose,
    "Dense": _dense,
    "BatchNormalization": _batch_norm,
    "Rescaling": _rescaling,
    "ReLU": _activation_layer,
    "LeakyReLU": _activation_layer,
    "Activation": _activation_layer,
    "Softmax": _activation_layer,
    "PReLU": _prelu,
    "MaxPooling2D": _pool,
    "AveragePooling2D": _pool,
    "GlobalAveragePooling2D": _global_pool,
    "GlobalMaxPooling2D": _global_pool,
    **{cls: _elementwise for cls in _MERGE_OPS},
    "Concatenate": _concatenate,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "ZeroPadding2D": _zero_padding,
    "Cropping2D": _cropping,
    "UpSampling2D": _upsampling,
    # Inference-time identities: the converter drops them.
    **{cls: _vanishes for cls in INFERENCE_IDENTITIES},
}
