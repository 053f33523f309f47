"""The TFLite operators of a pruned Keras model, derived from its channel graph alone.

NetAdapt prices many channel configurations per iteration, and a model's table cost is
the sum over the LayerSignatures of the ops its .tflite holds. Converting every candidate
takes 0.5-3 s, so the signatures are derived here from the ChannelGraph instead: spatial
sizes never change under channel pruning, only the last axis does, and how the converter
lowers each layer is known. tests/costs check that the result equals
`signatures_from_tflite(to_device_tflite(prune(model, keep)))` for the zoo and Keras'
MobileNetV2, MobileNetV3 and EfficientNetV2B0, float32 and int8.

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
  tensor); otherwise, right after GlobalAveragePooling2D, it turns the MEAN into keep_dims
  (and a MEAN over 1x1 that keeps its dims disappears).
- An ADD of a (1, 1, 1, C) operand (C > 1) is a bias add: RESHAPE to (C,), then ADD.
  Operands of equal rank otherwise broadcast as they are.
- keras.ops operation nodes (`x + 3.0`, `keras.ops.maximum(x, y)`, ...): arithmetic with a
  scalar lowers like a scalar Rescaling (MUL, ADD or SUB, folded where Rescaling folds;
  division by a constant is MUL), `c - x` is SUB, max(x, 0) is a fusable ReLU and
  min(relu(x), 6) a ReLU6; a per-channel constant folds only into its producer. Hard
  swish written out (x * relu6(x + 3) / 6, any association, or x * hard_sigmoid(x)) is
  one HARD_SWISH. Divisions by tensors are DIV, which no table describes.
- Normalization (forward, channel axis) is SUB then MUL by (1, 1, 1, C) constants.

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

import numpy as np

from latency_tables.signature import LayerSignature
from service.surgery.errors import UnsupportedNodeError
from service.surgery.graph import ChannelGraph, LayerNode
from service.surgery.layer_roles import INFERENCE_IDENTITIES, activation_name
from service.surgery.operation_roles import NN_OPS_MODULE, NUMPY_OPS_MODULE

Shape = tuple[int, ...]
SignatureFn = Callable[[Mapping[str, int]], list[LayerSignature]]

DTYPES = ("float32", "int8")
# Distinct channel configurations remembered per signature_fn; a NetAdapt iteration asks
# for a few hundred, and a cached entry is a few KB.
CACHE_SIZE = 4096


class UnsupportedForTables(UnsupportedNodeError, ValueError):
    """A layer whose TFLite lowering this module does not know, so its cost is unknown."""

    cannot = "cannot be priced from lookup tables"
    remedy = "Use the analytic cost metrics (macs, params) for this model, or replace the layer with a supported one."


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
    nodes: dict[str, LayerNode]


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
        facts = _GraphFacts(prunable, uses, consumers, graph.node_by_name)
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
    node: str = ""  # the layer (or operation node) that emitted it


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
        layer = _Layer(node, inputs, _shape(graph, node, widths), facts, ops, dtype, values)
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
    values: dict[str, _Value]  # the outputs of the layers before this one

    @property
    def config(self) -> dict[str, Any]:
        return self.node.config

    @property
    def consumers(self) -> list[LayerNode]:
        return self.facts.consumers[self.node.name]

    def emit(self, op: str, inputs: list[Shape], output: Shape | None = None, **options: Any) -> _Value:
        new = _Op(op, list(inputs), self.shape if output is None else output, options, node=self.node.name)
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


def _sliding(layer: _Layer, op: str, source: Shape, padding: str, output: Shape | None = None,
             **options: Any) -> _Value:
    """`op` sliding the layer's kernel over `source` (its strides and dilation), the
    activation not fused yet."""
    cfg = layer.config
    return layer.emit(
        op,
        [source],
        output,
        kernel=_pair(cfg["kernel_size"]),
        stride=_pair(cfg["strides"]),
        padding=padding,
        dilation=_pair(cfg.get("dilation_rate", 1)),
        activation="NONE",
        **options,
    )


def _convolution(layer: _Layer, op: str, **options: Any) -> _Value:
    """A convolution layer as one `op` (a PAD before it folded into SAME), then its activation."""
    source, padding = _unpadded_input(layer)
    conv = _sliding(layer, op, source, padding, **options)
    return _activate(layer, conv, conv.op, activation_name(layer.config))


def _conv2d(layer: _Layer) -> _Value:
    return _convolution(layer, "CONV_2D", groups=int(layer.config.get("groups", 1)))


def _depthwise_conv2d(layer: _Layer) -> _Value:
    return _convolution(layer, "DEPTHWISE_CONV_2D", depth_multiplier=int(layer.config.get("depth_multiplier", 1)))


def _separable_conv2d(layer: _Layer) -> _Value:
    """DEPTHWISE_CONV_2D, then a 1x1 CONV_2D that carries the activation."""
    source, padding = _unpadded_input(layer)
    multiplier = int(layer.config.get("depth_multiplier", 1))
    output = (*layer.shape[:-1], source[-1] * multiplier)
    depthwise = _sliding(layer, "DEPTHWISE_CONV_2D", source, padding, output, depth_multiplier=multiplier)
    pointwise = layer.emit(
        "CONV_2D", [depthwise.shape], kernel=(1, 1), stride=(1, 1), padding="VALID", activation="NONE"
    )
    return _activate(layer, pointwise, pointwise.op, activation_name(layer.config))


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


def _folds(producer: _Op | None) -> bool:
    """Whether a constant scale or offset of `producer`'s output folds into its weights
    (`producer` as returned by `_Layer.open_op`: read by nothing else)."""
    return producer is not None and producer.op in _FOLDS_AFFINE and producer.options["activation"] == "NONE"


def _folds_into_producer(layer: _Layer) -> bool:
    return _folds(layer.open_op(0))


def _affine(
    layer: _Layer,
    constant: Shape,
    scale: bool = True,
    offset: str | None = "ADD",
    value: _Value | None = None,
) -> _Value:
    """`value` (default: the layer's input) times a constant of shape `constant`, then
    plus (offset "ADD") or minus ("SUB") one: MUL, then ADD or SUB."""
    value = layer.inputs[0] if value is None else value
    if scale:
        value = layer.emit("MUL", [value.shape], value.shape, const_inputs=[constant], activation="NONE")
    if offset:
        value = layer.emit(offset, [value.shape], value.shape, const_inputs=[constant], activation="NONE")
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


def _scalar_affine(
    layer: _Layer,
    value: _Value,
    producer: _Op | None,
    scale: bool,
    offset: str | None,
    consumers: list[LayerNode] | None = None,
) -> _Value:
    """`value` times a scalar (if `scale`), then plus or minus a scalar (`offset` "ADD" or
    "SUB"), where `producer` is the op it may fold into (see `_Layer.open_op`) and
    `consumers` (default: the layer's) read the result."""
    if not (scale or offset) or _folds(producer):
        return _Value(value.shape, value.op, producer is not None)
    # The converter also folds a scalar affine into the weights of the convolutions that
    # read it, the offset only where no zero padding would see it.
    consumers = layer.consumers if consumers is None else consumers
    convolutions = [c for c in consumers if c.class_name in _CONVOLUTIONS]
    if convolutions and len(convolutions) == len(consumers):
        if not offset or all(c.config["padding"] == "valid" for c in convolutions):
            return _Value(value.shape, value.op, producer is not None)
    elif convolutions:
        raise layer.unsupported("feeds convolutions and other layers; which of its ops fold away is untested")
    return _affine(layer, (), scale, offset, value)


def _rescaling(layer: _Layer) -> _Value:
    scale, offset = _scalar(layer, "scale", 1.0) != 1.0, _scalar(layer, "offset", 0.0) != 0.0
    return _scalar_affine(layer, layer.inputs[0], layer.open_op(0), scale, "ADD" if offset else None)


def _normalization(layer: _Layer) -> _Value:
    """(x - mean) / sqrt(variance) with per-channel constants: SUB, then MUL by the
    reciprocal (a mean of 0 or a variance of 1 given in the config drops its op)."""
    cfg = layer.config
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if cfg.get("invert") or axis not in (-1, len(layer.shape) - 1):
        raise layer.unsupported("only the forward normalization over the channel axis has a rule")
    if _folds_into_producer(layer):
        raise layer.unsupported("after a layer it might fold into; only a normalized model input is tested")
    mean, variance = cfg.get("mean"), cfg.get("variance")
    constant = (*(1,) * (len(layer.shape) - 1), layer.shape[-1])
    value = layer.inputs[0]
    if mean is None or np.any(np.asarray(mean) != 0.0):
        value = layer.emit("SUB", [value.shape], value.shape, const_inputs=[constant], activation="NONE")
    if variance is None or np.any(np.asarray(variance) != 1.0):
        value = layer.emit("MUL", [value.shape], value.shape, const_inputs=[constant], activation="NONE")
    return layer.alias() if value is layer.inputs[0] else value


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


def _numpy_op(cls: str) -> str:
    """The class name graph nodes carry for an operation node of keras.ops (numpy)."""
    return f"{NUMPY_OPS_MODULE}.{cls}"


# keras.ops arithmetic: the op of two tensors, or of a tensor and a constant. Division
# by a constant becomes MUL by its reciprocal; other divisions are DIV, which no table
# describes.
_OPERATION_OPS = {
    _numpy_op("Add"): "ADD",
    _numpy_op("Subtract"): "SUB",
    _numpy_op("Multiply"): "MUL",
    _numpy_op("Maximum"): "MAXIMUM",
    _numpy_op("Minimum"): "MINIMUM",
    _numpy_op("Divide"): "DIV",
    _numpy_op("TrueDivide"): "DIV",
}


def _broadcast(layer: _Layer, a: Shape, b: Shape) -> Shape:
    rank = max(len(a), len(b))
    a1, b1 = (1,) * (rank - len(a)) + a, (1,) * (rank - len(b)) + b
    if any(x != y and 1 not in (x, y) for x, y in zip(a1, b1)):
        raise layer.unsupported(f"inputs of shapes {a} and {b} do not broadcast")
    return tuple(max(x, y) for x, y in zip(a1, b1))


def _refuse_int8_min_max(layer: _Layer, op: str) -> None:
    if layer.dtype == "int8" and op in ("MAXIMUM", "MINIMUM"):
        raise layer.unsupported(
            "int8 MAXIMUM/MINIMUM need equal input scales; the converter inserts requantizing "
            "QUANTIZE ops that depend on calibration"
        )


def _elementwise(layer: _Layer) -> _Value:
    """A merge layer, or a keras.ops operation node of two tensors."""
    cls = layer.node.class_name
    op = _MERGE_OPS.get(cls) or _OPERATION_OPS[cls]
    if op == "DIV":
        raise layer.unsupported("a division of two tensors is DIV, which no lookup table describes")
    _refuse_int8_min_max(layer, op)
    if op == "MUL":
        hard_swish = _hard_swish(layer)
        if hard_swish is not None:
            return hard_swish
    shapes = [v.shape for v in layer.inputs]
    if op == "ADD" and any(_is_channel_vector(s) for s in shapes):
        return _bias_add(layer, cls, shapes)
    # Operands of equal rank broadcast as they are (MUL: of any rank).
    if (op != "MUL" and len({len(s) for s in shapes}) > 1) or (cls == "Average" and len(set(shapes)) > 1):
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


def _is_channel_vector(shape: Shape) -> bool:
    return len(shape) == 4 and shape[:3] == (1, 1, 1) and shape[3] > 1


def _bias_add(layer: _Layer, cls: str, shapes: list[Shape]) -> _Value:
    """An addition of a (1, 1, 1, C) tensor (C > 1), which the converter adds as a bias:
    RESHAPE to (C,), then ADD (even when both operands are (1, 1, 1, C))."""
    if len(shapes) != 2 or cls == "Average":
        raise layer.unsupported(f"adding {shapes}: only two operands are tested")
    full, vector = (shapes[0], shapes[1]) if _is_channel_vector(shapes[1]) else (shapes[1], shapes[0])
    bias = layer.emit("RESHAPE", [vector], (vector[-1],))
    return layer.emit("ADD", [full, bias.shape], _broadcast(layer, full, vector), activation="NONE")


def _concatenate(layer: _Layer) -> _Value:
    rank = len(layer.shape)
    axis = int(layer.config.get("axis", -1)) % rank
    return layer.emit("CONCATENATION", [v.shape for v in layer.inputs], axis=(axis,), activation="NONE")


# ---- shape layers --------------------------------------------------------------------

_BROADCASTING_MERGES = {"Add", "Subtract", "Average", "Maximum", "Minimum"}


def _is_operation(node: LayerNode) -> bool:
    return node.class_name.startswith((NUMPY_OPS_MODULE + ".", NN_OPS_MODULE + "."))


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
        if any(_is_operation(c) for c in layer.consumers):
            raise layer.unsupported("(C,) -> (1, 1, C) before a keras.ops operation is untested")
        if layer.consumers and all(c.class_name == "Multiply" for c in layer.consumers):
            return layer.alias()  # MUL broadcasts the (1, C) tensor as it is
        mean = layer.open_op(0)
        if mean is not None and mean.op == "MEAN" and not mean.options["keep_dims"]:
            if mean.inputs[0][1:3] == (1, 1):  # a mean over 1x1 that keeps its dims: identity
                mean.removed = True
                pooled = layer.node.input_names[0]  # back through the pooling (and dropouts)
                while layer.values[pooled].op is mean:
                    pooled = layer.facts.nodes[pooled].input_names[0]
                return _Value(layer.shape, layer.values[pooled].op, False)
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


# ---- keras.ops operation nodes -------------------------------------------------------
#
# Arithmetic with a scalar lowers like a scalar Rescaling (folded into the producing
# op's weights, or forward into the convolutions that read it; else MUL by c, ADD or
# SUB c), except that `c - x` is always SUB. max(x, 0) is a ReLU that fuses, and
# min(relu(x), 6) turns the ReLU into ReLU6. The converter recognises hard swish written
# as x * relu6(x + 3) / 6 in any association as one HARD_SWISH.

_NN_ACTIVATIONS = {
    f"{NN_OPS_MODULE}.Relu": "relu",
    f"{NN_OPS_MODULE}.Relu6": "relu6",
    f"{NN_OPS_MODULE}.Sigmoid": "sigmoid",
    f"{NN_OPS_MODULE}.Silu": "silu",
    f"{NN_OPS_MODULE}.HardSilu": "hard_silu",
}
_HARD_SIGMOID = f"{NN_OPS_MODULE}.HardSigmoid"
_SCALE_OPERATIONS = {_numpy_op("Multiply"), _numpy_op("Divide"), _numpy_op("TrueDivide")}


def _constant_operand(node: LayerNode) -> tuple[int, np.ndarray] | None:
    """(argument position, value) of a binary operation's constant, if it has one."""
    if len(node.constants) != 1 or len(node.input_names) != 1:
        return None
    return node.constants[0]


def _scalar_operand(node: LayerNode) -> float | None:
    operand = _constant_operand(node)
    if operand is None or operand[1].size != 1:
        return None
    return float(operand[1].reshape(()))


def _unary_operation(layer: _Layer) -> _Value:
    name = _NN_ACTIVATIONS[layer.node.class_name]
    return _activate(layer, layer.inputs[0], layer.open_op(0), name)


def _hard_sigmoid_operation(layer: _Layer) -> _Value:
    """keras.ops.hard_sigmoid: relu6(x + 3) / 6, each step lowered as written out."""
    # Only the ReLU6 reads the sum, and only the scaling reads the ReLU6.
    shifted = _scalar_affine(layer, layer.inputs[0], layer.open_op(0), False, "ADD", consumers=[])
    clipped = _activate(layer, shifted, shifted.op if shifted.exclusive else None, "relu6")
    return _scalar_affine(layer, clipped, clipped.op if clipped.exclusive else None, True, None)


def _binary_operation(layer: _Layer) -> _Value:
    node = layer.node
    if len(node.input_names) == 2:
        return _elementwise(layer)
    operand = _constant_operand(node)
    if operand is None:
        raise layer.unsupported("expected a tensor and one constant")
    position, constant = operand
    op = _OPERATION_OPS[node.class_name]
    if constant.size != 1:
        return _per_channel_operation(layer, op, position, constant)
    value = float(constant.reshape(()))
    if op in ("MAXIMUM", "MINIMUM"):
        return _scalar_min_max(layer, op, value)
    if position == 0 and op in ("SUB", "DIV"):  # c - x, c / x
        if op == "DIV":
            raise layer.unsupported("a constant divided by a tensor is DIV, which no lookup table describes")
        return layer.emit("SUB", [layer.inputs[0].shape], const_inputs=[()], activation="NONE")
    if op in ("MUL", "DIV"):
        hard_swish = _hard_swish_scaled(layer)
        if hard_swish is not None:
            return hard_swish
        return _scalar_affine(layer, layer.inputs[0], layer.open_op(0), value != 1.0, None)
    return _scalar_affine(layer, layer.inputs[0], layer.open_op(0), False, op if value != 0.0 else None)


def _per_channel_operation(layer: _Layer, op: str, position: int, constant: np.ndarray) -> _Value:
    """x (op) c with a constant of several entries (surgery leaves such channels whole)."""
    shape = tuple(int(d) for d in constant.shape)
    channel_only = all(d == 1 for d in shape[:-1])
    if op == "DIV" or (position == 0 and op == "SUB"):
        raise layer.unsupported(f"{op} by a constant of shape {shape} is untested")
    _refuse_int8_min_max(layer, op)
    if op in ("ADD", "SUB", "MUL") and channel_only and _folds_into_producer(layer):
        return layer.alias()
    options = {"activation": "NONE"} if op in _FUSES_ACTIVATION else {}
    return layer.emit(op, [layer.inputs[0].shape], const_inputs=[shape], **options)


def _scalar_min_max(layer: _Layer, op: str, value: float) -> _Value:
    source, producer = layer.inputs[0], layer.open_op(0)
    if op == "MAXIMUM" and value == 0.0:
        return _activate(layer, source, producer, "relu")
    if op == "MINIMUM" and value == 6.0 and producer is not None:
        if producer.op == "RELU":
            producer.op = "RELU6"
            return _Value(source.shape, producer, True)
        if producer.options.get("activation") == "RELU":
            producer.options["activation"] = "RELU6"
            return _Value(source.shape, producer, True)
    _refuse_int8_min_max(layer, op)
    return layer.emit(op, [source.shape], const_inputs=[()])


# ---- hard swish written out ----------------------------------------------------------


def _is_relu6(node: LayerNode) -> bool:
    cfg = node.config
    if node.class_name == "ReLU":
        plain = not float(cfg.get("negative_slope") or 0.0) and not float(cfg.get("threshold") or 0.0)
        return plain and cfg.get("max_value") is not None and float(cfg["max_value"]) == 6.0
    if node.class_name == "Activation":
        return activation_name(cfg) == "relu6"
    return node.class_name == f"{NN_OPS_MODULE}.Relu6"


def _single_input(layer: _Layer, name: str) -> str | None:
    """The input of node `name` if it has one and nothing but one node reads `name`."""
    node = layer.facts.nodes[name]
    if len(node.input_names) != 1 or layer.facts.uses[name] != 1:
        return None
    return node.input_names[0]


def _shifted_relu6_input(layer: _Layer, name: str) -> tuple[str, list[str]] | None:
    """(x, the nodes of the pattern) if node `name` is relu6(x + 3)."""
    add = _single_input(layer, name) if _is_relu6(layer.facts.nodes[name]) else None
    if add is None or layer.facts.nodes[add].class_name != _numpy_op("Add"):
        return None
    if _scalar_operand(layer.facts.nodes[add]) != 3.0 or layer.facts.uses[add] != 1:
        return None
    return layer.facts.nodes[add].input_names[0], [name, add]


def _is_sixth(node: LayerNode) -> bool:
    """x * (1/6) or x / 6."""
    value = _scalar_operand(node)
    if value is None or node.class_name not in _SCALE_OPERATIONS:
        return False
    if node.class_name == _numpy_op("Multiply"):
        return bool(np.isclose(value, 1.0 / 6.0, rtol=1e-6))
    return node.constants[0][0] == 1 and value == 6.0


def _hard_sigmoid_input(layer: _Layer, name: str) -> tuple[str, list[str]] | None:
    """(x, the nodes of the pattern) if node `name` computes hard_sigmoid(x) and nothing
    but the pattern reads its intermediate results."""
    node = layer.facts.nodes[name]
    if layer.facts.uses[name] != 1:
        return None
    if node.class_name == _HARD_SIGMOID:
        return node.input_names[0], [name]
    inner = _single_input(layer, name) if _is_sixth(node) else None
    found = _shifted_relu6_input(layer, inner) if inner is not None else None
    return (found[0], [name, *found[1]]) if found else None


def _replace_by_hard_swish(layer: _Layer, x: str, pattern: list[str]) -> _Value | None:
    """Remove the ops the pattern's nodes emitted and emit one HARD_SWISH of `x`."""
    nodes = set(pattern)
    if any(layer.values[n].op is None or layer.values[n].op.node not in nodes for n in pattern):
        return None  # part of the pattern folded into another op: not the converter's case
    for op in layer.ops:
        if op.node in nodes:
            op.removed = True
    return layer.emit("HARD_SWISH", [layer.values[x].shape])


def _hard_swish(layer: _Layer) -> _Value | None:
    """x * hard_sigmoid(x) (either operand order) as one HARD_SWISH, if it is that."""
    if len(layer.node.input_names) != 2:
        return None
    a, b = layer.node.input_names
    for x, gate in ((a, b), (b, a)):
        found = _hard_sigmoid_input(layer, gate)
        if found is not None and found[0] == x:
            return _replace_by_hard_swish(layer, x, found[1])
    return None


def _hard_swish_scaled(layer: _Layer) -> _Value | None:
    """(x * relu6(x + 3)) / 6 as one HARD_SWISH, if it is that."""
    product = layer.node.input_names[0]
    node = layer.facts.nodes[product]
    if not _is_sixth(layer.node) or layer.facts.uses[product] != 1 or len(node.input_names) != 2:
        return None
    if node.class_name not in ("Multiply", _numpy_op("Multiply")):
        return None
    a, b = node.input_names
    for x, gate in ((a, b), (b, a)):
        found = _shifted_relu6_input(layer, gate)
        if found is not None and found[0] == x:
            return _replace_by_hard_swish(layer, x, [product, *found[1]])
    return None


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
    "Normalization": _normalization,
    "Concatenate": _concatenate,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "ZeroPadding2D": _zero_padding,
    "Cropping2D": _cropping,
    "UpSampling2D": _upsampling,
    # Inference-time identities: the converter drops them.
    **{cls: _vanishes for cls in INFERENCE_IDENTITIES},
    # keras.ops operation nodes
    **{cls: _binary_operation for cls in _OPERATION_OPS},
    **{cls: _unary_operation for cls in _NN_ACTIVATIONS},
    _HARD_SIGMOID: _hard_sigmoid_operation,
}
