"""How important each channel of a group is: filter norms, or activation sparsity (APoZ).

Scores are "higher = keep". Norm scores are normalised by filter size so that members of
a group with different kernel sizes or input widths weigh alike, then summed over the
group's members (the layers whose outputs the group's channels are).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph import ChannelGraph, analyze
from .layer_roles import RECTIFYING_ACTIVATIONS, activation_name

SALIENCY_METHODS = ("l1", "l2", "apoz")


def _per_output_filters(class_name: str, weights: list[np.ndarray]) -> np.ndarray:
    """The producer's kernel as (output channels, weights per output filter)."""
    if class_name == "Conv2DTranspose":  # (kh, kw, out, in)
        kernel = np.moveaxis(weights[0], 2, -1)
    elif class_name == "SeparableConv2D":  # pointwise (1, 1, in*mult, out) decides outputs
        kernel = weights[1]
    else:  # Conv2D (kh, kw, in, out) and Dense (in, out)
        kernel = weights[0]
    return kernel.reshape(-1, kernel.shape[-1]).T


def filter_norms(model: Any, graph: ChannelGraph, order: int) -> dict[str, np.ndarray]:
    """Per prunable group: sum over members of the size-normalised L1 (mean |w|) or L2
    (root mean square) norm of each output filter."""
    scores: dict[str, np.ndarray] = {}
    for group in graph.prunable_groups:
        total = np.zeros(group.channels, dtype=np.float64)
        for member in group.members:
            node = graph.node_by_name[member]
            filters = _per_output_filters(node.class_name, model.get_layer(member).get_weights())
            if order == 1:
                total += np.abs(filters).mean(axis=1)
            else:
                total += np.sqrt(np.square(filters).mean(axis=1))
        scores[group.id] = total
    return scores


def apoz_scores(model: Any, graph: ChannelGraph, batch: np.ndarray) -> dict[str, np.ndarray]:
    """1 - APoZ (average percentage of zeros after a rectifier) per channel, on `batch`.

    Every rectified tensor (a ReLU-like layer's output) whose channels belong to a group
    contributes; a group with no rectified tensor (a purely linear bottleneck) falls back
    to its L1 norm scores, because zeros say nothing about it."""
    import keras

    rectified = []
    for node in graph.nodes:
        is_relu = node.class_name == "ReLU" or (
            node.class_name in ("Activation", "Conv2D", "Dense", "SeparableConv2D", "Conv2DTranspose")
            and activation_name(node.config) in RECTIFYING_ACTIVATIONS
        )
        if is_relu and node.output.tile == 1:
            rectified.append(node)
    prunable = {g.id for g in graph.prunable_groups}
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    if rectified:
        probe = keras.Model(model.inputs, [model.get_layer(n.name).output for n in rectified])
        outs = probe.predict(batch, verbose=0, batch_size=min(len(batch), 128))
        outs = outs if isinstance(outs, list) else [outs]
        for node, act in zip(rectified, outs):
            nonzero = (np.abs(act) > 0).reshape(-1, act.shape[-1]).mean(axis=0)
            offset = 0
            for seg in node.output.segments:
                full = graph.spaces[seg.space].channels
                span = nonzero[offset : offset + full * seg.repeat].reshape(full, seg.repeat)
                offset += full * seg.repeat
                gid = graph.space_group[seg.space]
                if gid in prunable:
                    sums[gid] = sums.get(gid, 0.0) + span.mean(axis=1)
                    counts[gid] = counts.get(gid, 0) + 1
    fallback = filter_norms(model, graph, order=1)
    return {
        gid: (sums[gid] / counts[gid]) if gid in sums else fallback[gid]
        for gid in (g.id for g in graph.prunable_groups)
    }


def channel_saliency(
    model: Any,
    method: str = "l1",
    batch: np.ndarray | None = None,
    graph: ChannelGraph | None = None,
) -> dict[str, np.ndarray]:
    """Saliency of every channel of every prunable group: 'l1', 'l2' or 'apoz'."""
    graph = graph or analyze(model)
    if method == "l1":
        return filter_norms(model, graph, 1)
    if method == "l2":
        return filter_norms(model, graph, 2)
    if method == "apoz":
        if batch is None:
            raise ValueError("saliency 'apoz' needs a data batch to measure activations on")
        return apoz_scores(model, graph, batch)
    raise ValueError(f"unknown saliency method '{method}'; use one of {', '.join(SALIENCY_METHODS)}")
