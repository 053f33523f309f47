"""The channel dependency graph of a Keras 3 Sequential or Functional model.

Every output channel of a *producer* (Conv2D, Dense, ...) lives in a channel space. Layers
that keep channels (batch norm, depthwise convs, pooling, activations) pass their input's
spaces on; merges (Add, Multiply, ...) couple the spaces of their inputs, so that those
must lose the same indices; Concatenate lays spaces side by side; Flatten repeats them
once per spatial position. A :class:`ChannelGroup` is a set of coupled spaces: removing
channel ``i`` from a group removes it from every member's output. Operation nodes (the
`keras.ops` calls of a Functional graph, such as `x + 3.0`; see operation_roles) are nodes
like layers: elementwise ones pass channels on or couple their operands.

How each layer role lays out its output is in role_handlers; channel spaces and layouts
are in channel_spaces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .channel_spaces import ChannelSpace, ChannelSpaces, Layout
from .errors import (
    SurgeryError,
    UnsupportedLayerError,
    UnsupportedModelError,
    UnsupportedOperationError,
)
from .layer_roles import Role, classify
from .operation_roles import classify_operation, operation_class_name
from .role_handlers import NodeCall, place


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
    builder = _GraphBuilder(model.name)
    for node in _graph_nodes(model):
        builder.add(node)
    for t in model.outputs:
        builder.spaces.freeze(builder.layouts[id(t)], "model output")

    groups, space_group = _build_groups(builder.nodes, builder.spaces)
    outputs = [builder.producers_of[id(t)] for t in model.outputs]
    return ChannelGraph(builder.nodes, builder.spaces.spaces, space_group, groups, kind, outputs)


class _GraphBuilder:
    """The nodes and channel spaces of one model, built one call node at a time in
    topological order."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.spaces = ChannelSpaces()
        self.layouts: dict[int, Layout] = {}  # id(KerasTensor) -> layout
        self.producers_of: dict[int, str] = {}  # id(KerasTensor) -> layer name
        self.nodes: list[LayerNode] = []
        self.seen_names: set[str] = set()

    def add(self, node: Any) -> None:
        """Add one call node, its inputs' nodes added before; creates, freezes or couples
        channel spaces as its role asks."""
        call, constants, weight_shapes = self._call(node)
        placed = place(call, self.spaces)
        in_ts = list(node.input_tensors)
        out_t = node.output_tensors[0]
        self.layouts[id(out_t)] = placed.output
        self.producers_of[id(out_t)] = call.name
        self.nodes.append(
            LayerNode(
                name=call.name,
                class_name=call.class_name,
                role=placed.role,
                config=call.config,
                inputs=call.in_layouts,
                output=placed.output,
                input_shapes=call.in_shapes,
                output_shape=call.out_shape,
                input_names=[self.producers_of[id(t)] for t in in_ts],
                weight_shapes=weight_shapes,
                out_space=placed.out_space,
                reshape_target=placed.reshape_target,
                constants=constants,
            )
        )

    def _call(
        self, node: Any
    ) -> tuple[NodeCall, tuple[tuple[int, np.ndarray], ...], list[tuple[int, ...]]]:
        """The node as its role handler sees it, its constant operands and weight shapes;
        raises for what analyze() does not support."""
        import keras

        layer = node.operation
        is_layer = isinstance(layer, keras.layers.Layer)
        # Operation nodes (keras.ops calls) are named by their qualified class: an ops "Add"
        # is not the merge layer "Add".
        cls = type(layer).__name__ if is_layer else operation_class_name(layer)
        error = UnsupportedLayerError if is_layer else UnsupportedOperationError
        if isinstance(layer, keras.Model):
            raise UnsupportedLayerError(
                layer.name, cls, "nested models are not supported; rebuild the model flat"
            )
        if layer.name in self.seen_names:
            raise UnsupportedModelError(
                f"two nodes of model '{self.model_name}' are named '{layer.name}'; give every "
                "layer a unique name"
            )
        self.seen_names.add(layer.name)
        if len(node.output_tensors) != 1:
            raise error(layer.name, cls, "multiple outputs")
        in_ts = list(node.input_tensors)
        in_shapes = [tuple(t.shape) for t in in_ts]
        role, barrier_reason, constants = _classify(node, is_layer, [len(s) for s in in_shapes])
        call = NodeCall(
            name=layer.name,
            class_name=cls,
            role=role,
            config=layer.get_config(),
            in_layouts=[self.layouts[id(t)] for t in in_ts],
            in_shapes=in_shapes,
            out_shape=tuple(node.output_tensors[0].shape),
            error=error,
            barrier_reason=barrier_reason,
        )
        weight_shapes = [tuple(w.shape) for w in layer.weights] if is_layer else []
        return call, constants, weight_shapes


def _classify(
    node: Any, is_layer: bool, input_ranks: list[int]
) -> tuple[Role, str | None, tuple[tuple[int, np.ndarray], ...]]:
    """A call node's role; for an operation node also why it is a barrier (if it is) and
    its constant operands."""
    if is_layer:
        return classify(node.operation, input_ranks), None, ()
    operands = _constant_operands(node)
    role, barrier_reason = classify_operation(
        node.operation, input_ranks, [value for _, value in operands]
    )
    return role, barrier_reason, tuple((i, np.asarray(value)) for i, value in operands)


def _build_groups(
    nodes: list[LayerNode], channel_spaces: ChannelSpaces
) -> tuple[list[ChannelGroup], dict[int, str]]:
    spaces = channel_spaces.spaces
    by_root: dict[int, list[int]] = {}
    for s in spaces:
        by_root.setdefault(channel_spaces.root(s.id), []).append(s.id)

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
