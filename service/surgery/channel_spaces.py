"""Channel spaces and how a tensor's channel axis is laid out over them.

Every output channel of a producer layer lives in a channel space. A tensor's channel axis
is described by a :class:`Layout`: a sequence of segments (a space, each of its channels
repeated ``repeat`` times, as after a depthwise conv with a depth multiplier), the whole
sequence tiled ``tile`` times (as after Flatten). :class:`ChannelSpaces` creates the spaces
of one model, freezes them, and couples those that must lose the same channel indices.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnsupportedLayerError


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


class ChannelSpaces:
    """The channel spaces of one model under construction, with a union-find over them:
    spaces in one set are coupled (they lose the same channel indices)."""

    def __init__(self) -> None:
        self.spaces: list[ChannelSpace] = []
        self._parent: list[int] = []

    def new(self, channels: int, origin: str, frozen: str | None = None) -> Layout:
        """A fresh space of `channels` channels, as the layout of the tensor it spans."""
        sid = len(self._parent)
        self._parent.append(sid)
        self.spaces.append(ChannelSpace(sid, int(channels), origin, frozen))
        return Layout((Segment(sid),))

    def freeze(self, layout: Layout, reason: str) -> None:
        """Mark every space of `layout` unprunable; the first reason given is kept."""
        for seg in layout.segments:
            if self.spaces[seg.space].frozen_reason is None:
                self.spaces[seg.space].frozen_reason = reason

    def root(self, space: int) -> int:
        """The representative of the set of spaces coupled with `space`."""
        while self._parent[space] != space:
            self._parent[space] = self._parent[self._parent[space]]
            space = self._parent[space]
        return space

    def union(self, a: int, b: int) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)

    def couple(
        self,
        name: str,
        cls: str,
        in_layouts: list[Layout],
        in_shapes: list[tuple[int | None, ...]],
        error: type[UnsupportedLayerError] = UnsupportedLayerError,
    ) -> Layout:
        """Elementwise merge: inputs with the same channel count lose the same indices.

        An input with a single channel broadcasts (e.g. a spatial attention map) and is
        left independent."""
        widths = [s[-1] for s in in_shapes]
        full = max(widths)
        coupled = [lay for lay, w in zip(in_layouts, widths) if w == full]
        ref = coupled[0]
        for lay in coupled[1:]:
            if not self._same_layout(lay, ref):
                # Channels of differently laid-out inputs cannot be removed in step;
                # leaving all of them whole is always safe.
                for other in coupled:
                    self.freeze(
                        other, f"'{name}' merges inputs whose channels are laid out differently"
                    )
                continue
            for a, b in zip(lay.segments, ref.segments):
                self.union(a.space, b.space)
        for w in widths:
            if w != full and w != 1:
                raise error(name, cls, f"inputs have {w} and {full} channels")
        return ref

    def _same_layout(self, a: Layout, b: Layout) -> bool:
        """Whether two layouts have segments of equal widths and repeats, in step."""
        return (
            a.tile == b.tile
            and len(a.segments) == len(b.segments)
            and all(
                x.repeat == y.repeat
                and self.spaces[x.space].channels == self.spaces[y.space].channels
                for x, y in zip(a.segments, b.segments)
            )
        )
