"""Analytic MACs and parameter counts against hand-computed values."""

from __future__ import annotations

import keras
from keras import layers

from service.surgery import analyze, count_macs, count_params, layer_costs


def _small_cnn() -> keras.Model:
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", name="conv")(inp)  # 8x8x4
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, name="dw")(x)  # 4x4x8
    x = layers.SeparableConv2D(6, 3, padding="valid", name="sep")(x)  # 2x2x6
    x = layers.Conv2DTranspose(5, 2, strides=2, name="up")(x)  # 4x4x5
    x = layers.Flatten(name="flat")(x)  # 80
    out = layers.Dense(7, name="fc")(x)
    return keras.Model(inp, out)


def test_macs_match_hand_computed_values():
    graph = analyze(_small_cnn())
    costs = layer_costs(graph)
    assert costs["conv"].macs == 8 * 8 * 4 * (3 * 3 * 3)
    assert costs["dw"].macs == 4 * 4 * 8 * (3 * 3)
    assert costs["sep"].macs == 2 * 2 * (3 * 3 * 8 + 8 * 6)
    assert costs["up"].macs == 2 * 2 * 6 * (2 * 2 * 5)
    assert costs["fc"].macs == 80 * 7
    assert costs["bn"].macs == 0
    assert count_macs(graph) == 6912 + 1152 + 480 + 480 + 560


def test_macs_and_params_follow_a_channel_config():
    graph = analyze(_small_cnn())
    counts = {"conv": 2, "sep": 3}
    costs = layer_costs(graph, counts)
    assert costs["conv"].macs == 8 * 8 * 2 * 27
    assert costs["dw"].macs == 4 * 4 * 4 * 9
    assert costs["sep"].macs == 2 * 2 * (9 * 4 + 4 * 3)
    assert costs["up"].macs == 2 * 2 * 3 * 4 * 5
    assert costs["bn"].params == 4 * 2
    assert costs["conv"].params == 27 * 2 + 2
    assert count_params(graph) == _small_cnn().count_params()


def test_dense_on_feature_map_counts_every_position():
    inp = keras.Input((3, 3, 4))
    out = layers.Dense(5, name="fc")(inp)
    graph = analyze(keras.Model(inp, layers.Flatten()(out)))
    assert layer_costs(graph)["fc"].macs == 9 * 4 * 5
