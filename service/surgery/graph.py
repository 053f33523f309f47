"""The channel dependency graph of a Keras 3 Sequential or Functional model.

Every output channel of a *producer* (Conv2D, Dense, ...) lives in a channel space. Layers
that keep channels (batch norm, depthwise convs, pooling, activations) pass their input's
spaces on; merges (Add, Multiply, ...) couple the spaces of their inputs, so that those
must lose the same indices; Concatenate lays spaces side by side; Flatten repeats them
once per spatial position. A :class:`ChannelGroup` is a set of coupled spaces: removing
channel ``i`` from a group removes it from every member's output. Operation nodes (the
`keras.ops` calls of a Functional graph, such as `x + 3.0`; see operation_roles) are nodes
like layers: elementwise ones pass channels on or couple their operands.

A tensor's channel axis is described by a :class:`Layout`: a sequence of segments (a space,
each of its channels repeated ``repeat`` times, as after a depthwise conv with a depth
multiplier), the whole sequence tiled ``tile`` times (as after Flatten).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import (
    SurgeryError,
    UnsupportedLayerError,
    UnsupportedModelError,
    UnsupportedOperationError,
)
from .layer_roles import CHANNEL_MIXING_ACTIVATIONS, Role, activation_name, classify
from .operation_roles import classify_operation, operation_class_name


@dataclass(frozen=True)
class Segment:
    space: int
    repeat: int = 1


@dataclass(frozen=True)
class Layout:
    segments: tuple[Segment, ...]
    tile: int = 1


@dataclass
class ChannelSpace:
    id: int
    channels: int
    origin: str  # the layer that created it
    frozen_reason: str | None = None


@dataclass
class LayerNode:
    """One layer (or operation node) of the model with the channel layouts of its inputs
    and output."""

    name: str
    class_name: str
    role: Role
    config: dict[str, Any]
    inputs: list[Layout]
    output: Layout
    input_shapes: list[tuple[int | None, ...]]
    output_shape: tuple[int | None, ...]
    input_names: list[str]  # producing layer of each input tensor
    weight_shapes: list[tuple[int, ...]]
    out_space: int | None = None  # producers only
    reshape_target: tuple[int, ...] | None = None
    # Operation nodes only: (argument position, value) of each operand that is not a
    # tensor, e.g. ((1, array(3.0)),) for `x + 3.0`.
    constants: tuple[tuple[int, np.ndarray], ...] = ()


@dataclass
class ChannelGroup:
    """Layers whose output channels must lose the same indices."""

    id: str
    channels: int
    members: list[str]  # producer layers whose outputs are in this group
    consumers: list[str] = field(default_factory=list)  # layers whose inputs shrink
    prunable: bool = True
    frozen_reason: str | None = None
    spaces: list[int] = field(default_factory=list)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class ChannelGraph:
    """Result of :func:`analyze`: layers, channel spaces, and the groups built from them."""

    def __init__(
        self,
        nodes: list[LayerNode],
        spaces: list[ChannelSpace],
        space_group: dict[int, str],
        groups: list[ChannelGroup],
        model_kind: str,
        output_layers: list[str] | None = None,
    ) -> None:
        self.nodes = nodes
        self.node_by_name = {n.name: n for n in nodes}
        self.spaces = spaces
        self.space_group = space_group
        self.groups = groups
        self.group_by_id = {g.id: g for g in groups}
        self.model_kind = model_kind
        self.output_layers = list(output_layers or [])  # layers whose outputs the model returns

    @property
    def prunable_groups(self) -> list[ChannelGroup]:
        return [g for g in self.groups if g.prunable]

    def channel_config(self) -> dict[str, int]:
        """Prunable group id -> channel count, as in the analysed model."""
        return {g.id: g.channels for g in self.prunable_groups}

    def consumers(self, group_id: str) -> list[str]:
        return list(self.group_by_id[group_id].consumers)

    # -- channel bookkeeping used by pruning, costs and tests ---------------------------

    def space_channels(self, counts: Mapping[str, int] | None = None) -> dict[int, int]:
        """Channel count of every space when groups have the given counts."""
        counts = counts or {}
        return {
            s.id: int(counts.get(self.space_group[s.id], s.channels)) for s in self.spaces
        }

    def layout_width(self, layout: Layout, space_channels: Mapping[int, int]) -> int:
        per_tile = sum(space_channels[seg.space] * seg.repeat for seg in layout.segments)
        return per_tile * layout.tile

    def kept_positions(
        self, layout: Layout, keep_by_space: Mapping[int, np.ndarray]
    ) -> np.ndarray:
        """Positions along a tensor's channel axis that survive, given kept indices per
        space (spaces not in the mapping keep everything)."""
        parts = []
        offset = 0
        for seg in layout.segments:
            full = self.spaces[seg.space].channels
            kept = keep_by_space.get(seg.space)
            kept = np.arange(full) if kept is None else np.asarray(kept, dtype=np.int64)
            rep = np.arange(seg.repeat)
            parts.append(offset + (kept[:, None] * seg.repeat + rep[None, :]).reshape(-1))
            offset += full * seg.repeat
        one_tile = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        tiles = [one_tile + t * offset for t in range(layout.tile)]
        return np.concatenate(tiles) if tiles else one_tile

    def keep_by_space(self, keep: Mapping[str, Sequence[int]]) -> dict[int, np.ndarray]:
        """Spread per-group kept indices to every space of the group."""
        out: dict[int, np.ndarray] = {}
        for group_id, idx in keep.items():
            for space in self.group_by_id[group_id].spaces:
                out[space] = np.asarray(sorted(idx), dtype=np.int64)
        return out

    def summary(self) -> list[dict[str, Any]]:
        """Groups as plain dicts (for reports and the REST API)."""
        return [
            {
                "id": g.id,
                "channels": g.channels,
                "members": list(g.members),
                "consumers": list(g.consumers),
                "prunable": g.prunable,
                "frozen_reason": g.frozen_reason,
            }
            for g in self.groups
        ]


def _is_functional_or_sequential(model: Any) -> str:
    import keras

    if isinstance(model, keras.Sequential):
        return "sequential"
    functional_cls = keras.src.models.functional.Functional
    if type(model) is functional_cls or (
        isinstance(model, functional_cls) and type(model).call is functional_cls.call
    ):
        return "functional"
    if isinstance(model, keras.Model):
        raise UnsupportedModelError(
            f"model '{model.name}' is a subclassed keras.Model ({type(model).__name__}); its "
            "graph is Python code that cannot be analysed. Rebuild it with the Functional "
            "API (keras.Input ... keras.Model(inputs, outputs)) or as a keras.Sequential."
        )
    raise UnsupportedModelError(
        f"expected a keras.Model, got {type(model).__name__}; load the model with "
        "keras.saving.load_model first."
    )


def _graph_nodes(model: Any) -> list[Any]:
    """The model's call nodes in topological order (inputs first): layer calls and
    operation nodes (`keras.ops` calls such as `x + 3.0`) alike. Each node's `operation`
    is callable with the node's `arguments` (symbolic tensors replaced by values)."""
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        outputs = None
    if not outputs:
        raise UnsupportedModelError(
            f"model '{model.name}' has no symbolic outputs; build it on a keras.Input first "
            "(e.g. keras.Sequential([keras.Input(shape), ...]))."
        )
    order: list[Any] = []
    seen: set[int] = set()
    layer_nodes: dict[int, int] = {}

    def visit(tensor: Any) -> None:
        op, node_index, _ = tensor._keras_history
        node = op._inbound_nodes[node_index]
        if id(node) in seen:
            return
        if id(op) in layer_nodes:
            raise UnsupportedModelError(
                f"layer '{op.name}' is called more than once in the model (shared layer); "
                "shared layers cannot be pruned consistently. Use separate layers."
            )
        # Iterative post-order would be nicer for very deep nets; Keras graphs here are
        # at most a few hundred nodes deep, well within Python's recursion limit.
        seen.add(id(node))
        for t in node.input_tensors:
            visit(t)
        layer_nodes[id(op)] = node_index
        order.append(node)

    for t in outputs:
        visit(t)
    return order


def _constant_operands(node: Any) -> list[tuple[int, Any]]:
    """(argument position, value) of each operand of a call node that is not a symbolic
    tensor (e.g. the 3.0 of `x + 3.0`), as passed: a list stays one operand."""
    import keras

    values = [*node.arguments.args, *node.arguments.kwargs.values()]
    return [(i, v) for i, v in enumerate(values) if not isinstance(v, keras.KerasTensor)]


def analyze(model: Any) -> ChannelGraph:
    """Build the channel dependency graph of a Keras 3 Sequential or Functional model.

    Raises :class:`UnsupportedModelError` for subclassed, nested or shared-layer models and
    :class:`UnsupportedLayerError` naming the first layer whose channel behaviour is unknown
    (:class:`UnsupportedOperationError`, a subclass, for a `keras.ops` operation node).
    """
    kind = _is_functional_or_sequential(model)
    import keras

    graph_nodes = _graph_nodes(model)
    uf = _UnionFind()
    spaces: list[ChannelSpace] = []
    layouts: dict[int, Layout] = {}  # id(KerasTensor) -> layout
    producers_of: dict[int, str] = {}  # id(KerasTensor) -> layer name
    nodes: list[LayerNode] = []

    def new_space(channels: int, origin: str, frozen: str | None = None) -> Layout:
        sid = uf.add()
        spaces.append(ChannelSpace(sid, int(channels), origin, frozen))
        return Layout((Segment(sid),))

    def freeze(layout: Layout, reason: str) -> None:
        for seg in layout.segments:
            if spaces[seg.space].frozen_reason is None:
                spaces[seg.space].frozen_reason = reason

    seen_names: set[str] = set()
    for node in graph_nodes:
        layer = node.operation
        is_layer = isinstance(layer, keras.layers.Layer)
        # Operation nodes (keras.ops calls) are named by their qualified class: an ops
        # "Add" is not the merge layer "Add".
        cls = type(layer).__name__ if is_layer else operation_class_name(layer)
        error = UnsupportedLayerError if is_layer else UnsupportedOperationError
        if isinstance(layer, keras.Model):
            raise UnsupportedLayerError(
                layer.name, cls, "nested models are not supported; rebuild the model flat"
            )
        if layer.name in seen_names:
            raise UnsupportedModelError(
                f"two nodes of model '{model.name}' are named '{layer.name}'; give every layer "
                "a unique name"
            )
        seen_names.add(layer.name)
        if len(node.output_tensors) != 1:
            raise error(layer.name, cls, "multiple outputs")
        out_t = node.output_tensors[0]
        in_ts = list(node.input_tensors)
        in_shapes = [tuple(t.shape) for t in in_ts]
        out_shape = tuple(out_t.shape)
        in_layouts = [layouts[id(t)] for t in in_ts]
        barrier_reason = None
        constants: tuple[tuple[int, np.ndarray], ...] = ()
        if is_layer:
            role = classify(layer, [len(s) for s in in_shapes])
        else:
            operands = _constant_operands(node)
            role, barrier_reason = classify_operation(
                layer, [len(s) for s in in_shapes], [value for _, value in operands]
            )
            constants = tuple((i, np.asarray(value)) for i, value in operands)
        config = layer.get_config()
        out_space = None
        reshape_target = None

        if role is Role.INPUT:
            out = new_space(out_shape[-1], layer.name, "model input")
        elif role is Role.PRODUCER:
            out = new_space(out_shape[-1], layer.name)
            out_space = out.segments[0].space
            if activation_name(config) in CHANNEL_MIXING_ACTIVATIONS:
                freeze(out, f"'{layer.name}' applies a channel-mixing activation")
        elif role in (Role.PER_CHANNEL, Role.PASS_THROUGH):
            src = in_layouts[0]
            if cls == "DepthwiseConv2D":
                mult = int(config.get("depth_multiplier", 1))
                src = Layout(tuple(Segment(s.space, s.repeat * mult) for s in src.segments))
            out = src
        elif role is Role.GLOBAL_POOL:
            if in_layouts[0].tile != 1:
                raise UnsupportedLayerError(layer.name, cls, "input was flattened")
            out = in_layouts[0]
        elif role is Role.FLATTEN:
            in_shape, in_layout = in_shapes[0], in_layouts[0]
            if cls == "Reshape":
                reshape_target = tuple(config["target_shape"])
            if out_shape[-1] == in_shape[-1] and cls == "Reshape":
                role = Role.PASS_THROUGH  # e.g. (C,) -> (1, 1, C): channels survive as is
                out = in_layout
            elif len(out_shape) == 2 and None not in in_shape[1:]:
                spatial = int(np.prod(in_shape[1:-1])) if len(in_shape) > 2 else 1
                out = Layout(in_layout.segments, in_layout.tile * spatial)
            else:
                role = Role.BARRIER
                freeze(in_layout, f"'{layer.name}' reshapes the channel axis")
                out = new_space(out_shape[-1], layer.name, f"output of '{layer.name}'")
        elif role is Role.CONCAT:
            rank = len(out_shape)
            axis = int(config.get("axis", -1))
            if axis % rank == rank - 1:
                segs: list[Segment] = []
                for lay in in_layouts:
                    if lay.tile != 1:
                        raise UnsupportedLayerError(layer.name, cls, "input was flattened")
                    segs.extend(lay.segments)
                out = Layout(tuple(segs))
            else:
                role = Role.MERGE
                out = _couple(layer.name, cls, in_layouts, in_shapes, uf, spaces)
        elif role is Role.MERGE:
            out = _couple(layer.name, cls, in_layouts, in_shapes, uf, spaces, error)
        else:  # BARRIER
            reason = barrier_reason or f"'{layer.name}' ({cls}) must see all of its input channels"
            for lay in in_layouts:
                freeze(lay, reason)
            out = new_space(out_shape[-1], layer.name, f"output of '{layer.name}' ({cls})")

        layouts[id(out_t)] = out
        producers_of[id(out_t)] = layer.name
        nodes.append(
            LayerNode(
                name=layer.name,
                class_name=cls,
                role=role,
                config=config,
                inputs=in_layouts,
                output=out,
                input_shapes=in_shapes,
                output_shape=out_shape,
                input_names=[producers_of[id(t)] for t in in_ts],
                weight_shapes=[tuple(w.shape) for w in layer.weights] if is_layer else [],
                out_space=out_space,
                reshape_target=reshape_target,
                constants=constants,
            )
        )

    for t in model.outputs:
        freeze(layouts[id(t)], "model output")

    groups, space_group = _build_groups(nodes, spaces, uf)
    outputs = [producers_of[id(t)] for t in model.outputs]
    return ChannelGraph(nodes, spaces, space_group, groups, kind, outputs)


def _couple(
    name: str,
    cls: str,
    in_layouts: list[Layout],
    in_shapes: list[tuple[int | None, ...]],
    uf: _UnionFind,
    spaces: list[ChannelSpace],
    error: type[UnsupportedLayerError] = UnsupportedLayerError,
) -> Layout:
    """Elementwise merge: inputs with the same channel count lose the same indices.

    An input with a single channel broadcasts (e.g. a spatial attention map) and is left
    independent."""
    widths = [s[-1] for s in in_shapes]
    full = max(widths)
    coupled = [lay for lay, w in zip(in_layouts, widths) if w == full]
    ref = coupled[0]
    for lay in coupled[1:]:
        same_shape = lay.tile == ref.tile and len(lay.segments) == len(ref.segments)
        if same_shape:
            same_shape = all(
                a.repeat == b.repeat and spaces[a.space].channels == spaces[b.space].channels
                for a, b in zip(lay.segments, ref.segments)
            )
        if not same_shape:
            # Channels of differently laid-out inputs cannot be removed in step; leaving all
            # of them whole is always safe.
            for other in coupled:
                for seg in other.segments:
                    if spaces[seg.space].frozen_reason is None:
                        spaces[seg.space].frozen_reason = (
                            f"'{name}' merges inputs whose channels are laid out differently"
                        )
            continue
        for a, b in zip(lay.segments, ref.segments):
            uf.union(a.space, b.space)
    for _, w in zip(in_layouts, widths):
        if w != full and w != 1:
            raise error(name, cls, f"inputs have {w} and {full} channels")
    return ref


def _build_groups(
    nodes: list[LayerNode], spaces: list[ChannelSpace], uf: _UnionFind
) -> tuple[list[ChannelGroup], dict[int, str]]:
    by_root: dict[int, list[int]] = {}
    for s in spaces:
        by_root.setdefault(uf.find(s.id), []).append(s.id)

    origin_order = {n.name: i for i, n in enumerate(nodes)}
    producer_of = {n.out_space: n.name for n in nodes if n.out_space is not None}
    groups: list[ChannelGroup] = []
    space_group: dict[int, str] = {}
    used_ids: set[str] = set()
    for root in sorted(by_root, key=lambda r: min(origin_order[spaces[s].origin] for s in by_root[r])):
        members_spaces = sorted(by_root[root], key=lambda s: origin_order[spaces[s].origin])
        channels = {spaces[s].channels for s in members_spaces}
        if len(channels) != 1:
            raise SurgeryError(
                f"coupled layers {[spaces[s].origin for s in members_spaces]} have different "
                f"channel counts {sorted(channels)}"
            )
        producer_members = [producer_of[s] for s in members_spaces if s in producer_of]
        reasons = [spaces[s].frozen_reason for s in members_spaces if spaces[s].frozen_reason]
        gid = producer_members[0] if producer_members else f"fixed:{spaces[members_spaces[0]].origin}"
        while gid in used_ids:  # cannot happen with unique layer names; keep ids unique anyway
            gid += "'"
        used_ids.add(gid)
        group = ChannelGroup(
            id=gid,
            channels=channels.pop(),
            members=producer_members,
            prunable=bool(producer_members) and not reasons,
            frozen_reason=reasons[0] if reasons else (None if producer_members else "no producer"),
            spaces=members_spaces,
        )
        for s in members_spaces:
            space_group[s] = gid
        groups.append(group)

    group_by_id = {g.id: g for g in groups}
    for n in nodes:
        touched: list[str] = []
        for lay in n.inputs:
            for seg in lay.segments:
                gid = space_group[seg.space]
                if gid not in touched:
                    touched.append(gid)
        for gid in touched:
            group_by_id[gid].consumers.append(n.name)
    return groups, space_group
