"""How a node of each layer role lays out its output channels.

:func:`place` looks up the handler of a node's role in :data:`ROLE_HANDLERS`. A handler
reads the node's input layouts and shapes, creates, freezes or couples channel spaces, and
returns the node's :class:`Placement`: its output layout and, where the shapes decide it,
a refined role (a Reshape that keeps the channel axis passes it through; a Concatenate
along another axis merges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .channel_spaces import ChannelSpaces, Layout, Segment
from .errors import UnsupportedLayerError
from .layer_roles import CHANNEL_MIXING_ACTIVATIONS, Role, activation_name


@dataclass(frozen=True)
class NodeCall:
    """One call of a layer (or operation node) as the graph builder sees it."""

    name: str
    class_name: str
    role: Role  # as classified from the layer alone
    config: dict[str, Any]
    in_layouts: list[Layout]
    in_shapes: list[tuple[int | None, ...]]
    out_shape: tuple[int | None, ...]
    error: type[UnsupportedLayerError]  # raised for an unsupported use of this node
    barrier_reason: str | None = None  # why an operation node must stay whole


@dataclass(frozen=True)
class Placement:
    """What a handler decided for a node."""

    role: Role
    output: Layout
    out_space: int | None = None  # producers only
    reshape_target: tuple[int, ...] | None = None  # Reshape layers only


RoleHandler = Callable[[NodeCall, ChannelSpaces], Placement]


def _input(call: NodeCall, spaces: ChannelSpaces) -> Placement:
    return Placement(call.role, spaces.new(_channels(call), call.name, "model input"))


def _producer(call: NodeCall, spaces: ChannelSpaces) -> Placement:
    out = spaces.new(_channels(call), call.name)
    if activation_name(call.config) in CHANNEL_MIXING_ACTIVATIONS:
        spaces.freeze(out, f"'{call.name}' applies a channel-mixing activation")
    return Placement(call.role, out, out_space=out.segments[0].space)


def _keeps_channels(call: NodeCall, spaces: ChannelSpaces) -> Placement:
    """Per-channel and pass-through layers: output channels are the input's; a depthwise
    conv with a depth multiplier repeats each of them."""
    src = call.in_layouts[0]
    if call.class_name == "DepthwiseConv2D":
        mult = int(call.config.get("depth_multiplier", 1))
        src = Layout(tuple(Segment(s.space, s.repeat * mult) for s in src.segments))
    return Placement(call.role, src)


def _global_pool(call: NodeCall, spaces: ChannelSpaces) -> Placement:
    if call.in_layouts[0].tile != 1:
        raise UnsupportedLayerError(call.name, call.class_name, "input was flattened")
    return Placement(call.role, call.in_layouts[0])


def _flatten(call: NodeCall, spaces: ChannelSpaces) -> Placement:
    """Flatten and Reshape: the channel axis survives as is, is tiled once per spatial
    position, or (any other reshape) is cut off by a barrier."""
    in_shape, in_layout, out_shape = call.in_shapes[0], call.in_layouts[0], call.out_shape
    target = tuple(call.config["target_shape"]) if call.class_name == "Reshape" else None
    if out_shape[-1] == in_shape[-1] and call.class_name == "Reshape":
        # e.g. (C,) -> (1, 1, C)
        return Placement(Role.PASS_THROUGH, in_layout, reshape_target=target)
    if len(out_shape) == 2 and None not in in_shape[1:]:
        spatial = int(np.prod(in_shape[1:-1])) if len(in_shape) > 2 else 1
        tiled = Layout(in_layout.segments, in_layout.tile * spatial)
        return Placement(call.role, tiled, reshape_target=target)
    spaces.freeze(in_layout, f"'{call.name}' reshapes the channel axis")
    out = spaces.new(_channels(call), call.name, f"output of '{call.name}'")
    return Placement(Role.BARRIER, out, reshape_target=target)


def _concat(call: NodeCall, spaces: ChannelSpaces) -> Placement:
    """Along the channel axis, inputs' spaces side by side; along another axis, a merge."""
    rank = len(call.out_shape)
    if int(call.config.get("axis", -1)) % rank != rank - 1:
        return Placement(Role.MERGE, _couple(call, spaces))
    segments: list[Segment] = []
    for lay in call.in_layouts:
        if lay.tile != 1:
            raise UnsupportedLayerError(call.name, call.class_name, "input was flattened")
        segments.extend(lay.segments)
    return Placement(call.role, Layout(tuple(segments)))


def _merge(call: NodeCall, spaces: ChannelSpaces) -> Placement:
    return Placement(call.role, _couple(call, spaces))


def _barrier(call: NodeCall, spaces: ChannelSpaces) -> Placement:
    """A node that must see all of its input channels: they are frozen, and its output is a
    new space."""
    cls = call.class_name
    reason = call.barrier_reason or f"'{call.name}' ({cls}) must see all of its input channels"
    for lay in call.in_layouts:
        spaces.freeze(lay, reason)
    out = spaces.new(_channels(call), call.name, f"output of '{call.name}' ({cls})")
    return Placement(call.role, out)


def _channels(call: NodeCall) -> int:
    width = call.out_shape[-1]
    if width is None:
        raise UnsupportedLayerError(
            call.name,
            call.class_name,
            f"its output's last axis has no fixed size (output shape {tuple(call.out_shape)}); "
            "give the model a fixed input shape, e.g. keras.Input((32, 32, 3))",
        )
    return int(width)


def _couple(call: NodeCall, spaces: ChannelSpaces) -> Layout:
    return spaces.couple(call.name, call.class_name, call.in_layouts, call.in_shapes, call.error)


ROLE_HANDLERS: dict[Role, RoleHandler] = {
    Role.INPUT: _input,
    Role.PRODUCER: _producer,
    Role.PER_CHANNEL: _keeps_channels,
    Role.PASS_THROUGH: _keeps_channels,
    Role.GLOBAL_POOL: _global_pool,
    Role.FLATTEN: _flatten,
    Role.CONCAT: _concat,
    Role.MERGE: _merge,
    Role.BARRIER: _barrier,
}


def place(call: NodeCall, spaces: ChannelSpaces) -> Placement:
    """The output layout (and refined role) of one node; see the module docstring."""
    return ROLE_HANDLERS[call.role](call, spaces)
