"""Shared check: a pruned model equals the original with removed channels zeroed at
their consumers (the layers that read them through weights)."""

from __future__ import annotations

import numpy as np
import keras

from service.surgery import analyze, prune
from service.surgery.graph import ChannelGraph
from service.surgery.layer_roles import Role


def randomize_batchnorm(model: keras.Model, seed: int = 0) -> None:
    """Give batch norms non-trivial statistics so that slicing them is really tested.

    The moving statistics are those of a random batch (one training-mode pass with
    momentum 0), then inflated by a random factor per channel, and gamma and beta are
    random: every channel's statistics differ, yet activations keep their scale through
    deep networks. Statistics drawn independently of the activations instead drown the
    signal after a few dozen layers, and the output of a deep model then no longer
    depends on its input at all."""
    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if type(layer).__name__ == "BatchNormalization"]
    if not norms:
        return
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    batch = rng.normal(0, 1, (8, *model.inputs[0].shape[1:])).astype("float32")
    model(batch, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
        new = []
        for w, v in zip(layer.weights, layer.get_weights()):
            if "variance" in w.path:
                new.append((v * rng.uniform(1.0, 2.0, v.shape)).astype(v.dtype))
            elif "mean" in w.path:
                new.append(v)
            else:  # gamma, beta
                low, high = (0.5, 1.5) if "gamma" in w.path else (-0.3, 0.3)
                new.append(rng.uniform(low, high, v.shape).astype(v.dtype))
        layer.set_weights(new)


def random_keep(graph: ChannelGraph, fraction: float, seed: int) -> dict[str, list[int]]:
    rng = np.random.default_rng(seed)
    keep = {}
    for g in graph.prunable_groups:
        n = max(1, int(round(g.channels * fraction)))
        keep[g.id] = sorted(rng.choice(g.channels, size=n, replace=False).tolist())
    return keep


def zeroed_copy(model: keras.Model, graph: ChannelGraph, keep: dict[str, list[int]]) -> keras.Model:
    """The original model with consumers' input weights for removed channels set to 0."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    kbs = graph.keep_by_space(keep)
    for node in graph.nodes:
        if node.role is not Role.PRODUCER:
            continue
        width = graph.layout_width(node.inputs[0], graph.space_channels())
        kept = graph.kept_positions(node.inputs[0], kbs)
        removed = np.setdiff1d(np.arange(width), kept)
        if removed.size == 0:
            continue
        layer = clone.get_layer(node.name)
        weights = layer.get_weights()
        if node.class_name == "Dense":
            weights[0][removed, :] = 0
        elif node.class_name == "Conv2DTranspose":
            weights[0][:, :, :, removed] = 0
        elif node.class_name == "SeparableConv2D":
            mult = weights[0].shape[-1]
            rows = (removed[:, None] * mult + np.arange(mult)).reshape(-1)
            weights[1][:, :, rows, :] = 0
        else:
            weights[0][:, :, removed, :] = 0
        layer.set_weights(weights)
    return clone


def max_output_difference(model: keras.Model, keep: dict[str, list[int]], seed: int = 0,
                          graph: ChannelGraph | None = None) -> float:
    graph = graph or analyze(model)
    pruned = prune(model, keep, graph=graph)
    reference = zeroed_copy(model, graph, keep)
    rng = np.random.default_rng(seed)
    shape = tuple(model.inputs[0].shape[1:])
    x = rng.normal(0, 1, (4, *shape)).astype("float32")
    a = np.asarray(pruned(x, training=False))
    b = np.asarray(reference(x, training=False))
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)))
