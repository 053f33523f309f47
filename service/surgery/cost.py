"""Analytic multiply-accumulates and parameter counts, for a model or a channel config.

MACs count the multiply-accumulates of convolutions and dense layers. Batch norm folds
into the preceding convolution when a model is converted for a device, and pooling,
activations and merges cost no multiplies, so they add nothing here. Parameter counts
include every weight Keras counts (batch norm's moving statistics too), so that they equal
`model.count_params()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import prod

from .graph import ChannelGraph, LayerNode
from .layer_roles import Role


@dataclass(frozen=True)
class LayerCost:
    macs: int
    params: int


def _spatial(shape: tuple[int | None, ...]) -> int:
    return int(prod(int(d) for d in shape[1:-1])) if len(shape) > 2 else 1


def layer_cost(node: LayerNode, cin: int, cout: int) -> LayerCost:
    """MACs and parameters of one layer when it sees `cin` input and makes `cout` output
    channels (spatial sizes never change under channel pruning)."""
    cfg = node.config
    bias = 1 if cfg.get("use_bias", False) else 0
    cls = node.class_name
    if cls == "Conv2D":  # grouped convolutions (barriers) included
        kh, kw = cfg["kernel_size"]
        per_output = kh * kw * (cin // int(cfg.get("groups", 1)))
        return LayerCost(_spatial(node.output_shape) * per_output * cout, (per_output + bias) * cout)
    if node.role is Role.PRODUCER:
        if cls == "Dense":
            return LayerCost(_spatial(node.output_shape) * cin * cout, cin * cout + bias * cout)
        kh, kw = cfg["kernel_size"]
        if cls == "Conv2DTranspose":
            macs = _spatial(node.input_shapes[0]) * kh * kw * cin * cout
            return LayerCost(macs, kh * kw * cin * cout + bias * cout)
        if cls == "SeparableConv2D":
            mult = int(cfg.get("depth_multiplier", 1))
            depthwise = kh * kw * cin * mult
            pointwise = cin * mult * cout
            macs = _spatial(node.output_shape) * (depthwise + pointwise)
            return LayerCost(macs, depthwise + pointwise + bias * cout)
    if cls == "DepthwiseConv2D":
        kh, kw = cfg["kernel_size"]
        macs = _spatial(node.output_shape) * kh * kw * cout
        return LayerCost(macs, kh * kw * cout + bias * cout)
    if node.role is Role.PER_CHANNEL:  # BN, per-channel PReLU: every weight is per channel
        return LayerCost(0, sum(prod(s[:-1]) * cout for s in node.weight_shapes))
    return LayerCost(0, sum(int(prod(s)) for s in node.weight_shapes))


def layer_costs(graph: ChannelGraph, counts: Mapping[str, int] | None = None) -> dict[str, LayerCost]:
    """Per-layer costs when the groups have the given channel counts (default: as analysed)."""
    widths = graph.space_channels(counts)
    out: dict[str, LayerCost] = {}
    for node in graph.nodes:
        if node.role is Role.INPUT:
            continue
        cin = graph.layout_width(node.inputs[0], widths) if node.inputs else 0
        cout = graph.layout_width(node.output, widths)
        out[node.name] = layer_cost(node, cin, cout)
    return out


def count_macs(graph: ChannelGraph, counts: Mapping[str, int] | None = None) -> int:
    return sum(c.macs for c in layer_costs(graph, counts).values())


def count_params(graph: ChannelGraph, counts: Mapping[str, int] | None = None) -> int:
    return sum(c.params for c in layer_costs(graph, counts).values())
