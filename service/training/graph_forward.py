"""A Keras model's forward pass replayed node by node, with channel masks.

NetAdapt's proposals of one iteration share a parent and differ only in which channels of
one group are gone. Rather than build, compile and trace a pruned model per proposal,
they are fine-tuned as the parent's graph with a 0/1 mask per channel position. The masks
sit at the inputs of the layers that mix channels (producers: Conv2D, Dense, ...), so
every such layer sees exact zeros where the pruned model has no channel at all; layers
that act per channel (batch norm, activations, depthwise convs, pooling, merges) compute
on the masked-out channels too, but nothing they compute there reaches a mixing layer or
the output. That is the pruned model's function exactly, and the masked-out channels
get exactly zero gradient (the surgery's exactness tests prove zeroed == pruned).

The replay calls the model's own layer objects, so the weights are shared with the model
and a fine-tune through the replay fine-tunes the model. It differs from `model(x)` in
two deliberate ways:

- Inference identities (Dropout and friends) are skipped in training too. A masked and a
  pruned model would draw differently shaped dropout masks, so with dropout the two paths
  could never compute the same fine-tune; and a short fine-tune that ranks proposals wants
  the least noisy estimate of pruning damage.
- With `collect_batchnorm=True`, each BatchNormalization's batch moments are returned, so
  moving statistics can be re-estimated exactly (see ShortTermTrainer).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from service.surgery.graph import ChannelGraph, _graph_nodes
from service.surgery.layer_roles import INFERENCE_IDENTITIES, Role


@dataclass(frozen=True)
class MaskSlot:
    """The channel mask in front of one channel-mixing layer's input."""

    layer: str
    node_index: int  # position in the replay order
    variable: tf.Variable


class GraphForward:
    """Replays `model` (Functional or Sequential, as analysed by `graph`); masks optional.

    Call `set_keep({group: kept indices})` between proposals; groups not named keep all of
    their channels. The masks are variables, so a compiled function that calls this forward
    is traced once and serves every proposal."""

    def __init__(self, model: keras.Model, graph: ChannelGraph, *, masked: bool = True) -> None:
        self.model = model
        self.graph = graph
        self._nodes = _graph_nodes(model)
        if len(self._nodes) != len(graph.nodes):
            raise ValueError(
                f"the channel graph has {len(graph.nodes)} nodes but model '{model.name}' has "
                f"{len(self._nodes)}; analyse this very model"
            )
        self._outputs = [id(t) for t in model.outputs]
        self._training_arg = [
            bool(getattr(node.operation, "_call_has_training_arg", False)) for node in self._nodes
        ]
        self._skipped = [
            type(node.operation).__name__ in INFERENCE_IDENTITIES for node in self._nodes
        ]
        self.batchnorm_layers = [
            node.operation
            for node in self._nodes
            if isinstance(node.operation, keras.layers.BatchNormalization)
        ]
        self.slots: list[MaskSlot] = []
        if masked:
            self.slots = self._mask_slots()
        self._slot_at = {slot.node_index: slot for slot in self.slots}

    def _mask_slots(self) -> list[MaskSlot]:
        prunable_spaces = {
            space for group in self.graph.prunable_groups for space in group.spaces
        }
        slots = []
        for index, info in enumerate(self.graph.nodes):
            if info.role is not Role.PRODUCER or not info.inputs:
                continue
            layout = info.inputs[0]
            if not any(seg.space in prunable_spaces for seg in layout.segments):
                continue
            width = int(info.input_shapes[0][-1])
            variable = tf.Variable(
                tf.ones([width], tf.float32), trainable=False, name=f"mask_{info.name}"
            )
            slots.append(MaskSlot(info.name, index, variable))
        return slots

    def mask_values(self, keep: Mapping[str, Sequence[int]]) -> dict[str, np.ndarray]:
        """The 0/1 mask of every slot when `keep` groups keep only the given indices."""
        keep_by_space = self.graph.keep_by_space(keep)
        values = {}
        for slot in self.slots:
            layout = self.graph.nodes[slot.node_index].inputs[0]
            mask = np.zeros(int(slot.variable.shape[0]), np.float32)
            mask[self.graph.kept_positions(layout, keep_by_space)] = 1.0
            values[slot.layer] = mask
        return values

    def set_keep(self, keep: Mapping[str, Sequence[int]]) -> None:
        if keep and not self.slots:
            raise ValueError("this forward was built without masks; build it with masked=True")
        values = self.mask_values(keep)
        for slot in self.slots:
            slot.variable.assign(values[slot.layer])

    def __call__(
        self, inputs: tf.Tensor, *, training: bool, collect_batchnorm: bool = False
    ) -> Any:
        """The model's output for `inputs` (one input tensor); with `collect_batchnorm`,
        also a list of (mean, variance) batch moments, one per BatchNormalization layer in
        `self.batchnorm_layers` order."""
        tensors: dict[int, Any] = {}
        moments: list[tuple[tf.Tensor, tf.Tensor]] = []

        def value(item: Any) -> Any:
            if isinstance(item, keras.KerasTensor):
                return tensors[id(item)]
            return item

        for index, node in enumerate(self._nodes):
            out_id = id(node.output_tensors[0])
            operation = node.operation
            if isinstance(operation, keras.layers.InputLayer):
                tensors[out_id] = inputs
                continue
            args = keras.tree.map_structure(value, node.arguments.args)
            kwargs = keras.tree.map_structure(value, node.arguments.kwargs)
            if self._skipped[index]:
                tensors[out_id] = args[0]
                continue
            slot = self._slot_at.get(index)
            if slot is not None:
                args = (args[0] * slot.variable, *args[1:])
            if collect_batchnorm and isinstance(operation, keras.layers.BatchNormalization):
                axes = list(range(len(args[0].shape) - 1))
                moments.append(tf.nn.moments(tf.cast(args[0], tf.float32), axes=axes))
            if self._training_arg[index]:
                kwargs = {**kwargs, "training": training}
            tensors[out_id] = operation(*args, **kwargs)

        outputs = [tensors[i] for i in self._outputs]
        result = outputs[0] if len(outputs) == 1 else outputs
        return (result, moments) if collect_batchnorm else result
