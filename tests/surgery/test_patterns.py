"""One test per hard graph pattern: the pruned model equals the original with the removed
channels zeroed at their consumers."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from service.surgery import UnsupportedLayerError, analyze, prune
from service.surgery.layer_roles import Role
from tests.helpers.keras_blocks import conv_bn_relu

from .exactness import max_output_difference, random_keep, randomize_batchnorm

TOL = 1e-4


def _check(model: keras.Model, fraction: float = 0.5, seeds: tuple[int, ...] = (0, 1)) -> None:
    randomize_batchnorm(model)
    graph = analyze(model)
    assert graph.prunable_groups, "pattern has nothing to prune"
    for seed in seeds:
        keep = random_keep(graph, fraction, seed)
        assert max_output_difference(model, keep, seed=seed, graph=graph) <= TOL


def _group_of(graph, layer_name: str):
    return next(g for g in graph.groups if layer_name in g.members)


def test_residual_add_couples_both_branches():
    inp = keras.Input((12, 12, 3))
    x = conv_bn_relu(inp, 16, 3, "stem")
    y = conv_bn_relu(x, 16, 3, "branch_a")
    y = layers.Conv2D(16, 3, padding="same", name="branch_b")(y)
    z = layers.Add(name="add")([x, y])
    proj = layers.Conv2D(24, 1, strides=2, name="proj")(z)
    w = layers.Conv2D(24, 3, strides=2, padding="same", name="main")(z)
    z2 = layers.Subtract(name="sub")([w, proj])
    out = layers.Dense(4, name="head")(layers.GlobalAveragePooling2D(name="gap")(z2))
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert _group_of(graph, "stem").members == ["stem", "branch_b"]
    assert sorted(_group_of(graph, "main").members) == ["main", "proj"]
    assert _group_of(graph, "branch_a").members == ["branch_a"]
    _check(model)


def test_concat_uses_index_offsets():
    inp = keras.Input((8, 8, 3))
    a = layers.Conv2D(8, 3, padding="same", activation="relu", name="a")(inp)
    b = layers.Conv2D(16, 3, padding="same", activation="relu", name="b")(inp)
    c = layers.Concatenate(name="cat")([a, b, a])
    d = layers.Conv2D(12, 1, name="after_cat")(c)
    out = layers.Dense(3, name="head")(layers.GlobalMaxPooling2D(name="gmp")(d))
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert {g.id for g in graph.prunable_groups} == {"a", "b", "after_cat"}
    _check(model)
    pruned = prune(model, {"a": [0, 5], "b": list(range(0, 16, 2))})
    assert pruned.get_layer("after_cat").get_weights()[0].shape == (1, 1, 2 + 8 + 2, 12)


def test_depthwise_chain_passes_channels_through():
    inp = keras.Input((16, 16, 3))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="pw0")(inp)
    x = layers.BatchNormalization(name="pw0_bn")(x)
    x = layers.ReLU(6.0, name="pw0_relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", name="dw1")(x)
    x = layers.BatchNormalization(name="dw1_bn")(x)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, name="dw2")(x)
    x = layers.BatchNormalization(name="dw2_bn")(x)
    x = layers.ReLU(6.0, name="dw2_relu")(x)
    x = layers.Conv2D(8, 1, name="pw3")(x)
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inp, out)
    graph = analyze(model)
    group = _group_of(graph, "pw0")
    assert {"dw1", "dw1_bn", "dw2", "dw2_bn", "pw3"} <= set(group.consumers)
    _check(model)
    pruned = prune(model, {"pw0": [1, 2, 3, 9]})
    assert pruned.get_layer("dw2").get_weights()[0].shape == (3, 3, 4, 2)
    assert pruned.get_layer("pw3").get_weights()[0].shape == (1, 1, 8, 8)


def test_separable_conv_slices_depthwise_and_pointwise():
    inp = keras.Input((10, 10, 3))
    x = layers.Conv2D(16, 3, padding="same", name="c0")(inp)
    x = layers.SeparableConv2D(24, 3, padding="same", depth_multiplier=2, name="sep1")(x)
    x = layers.BatchNormalization(name="sep1_bn")(x)
    x = layers.Activation("relu", name="sep1_relu")(x)
    x = layers.SeparableConv2D(8, 3, padding="same", name="sep2")(x)
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inp, out)
    _check(model)
    pruned = prune(model, {"c0": [0, 1, 2], "sep1": [0, 4]})
    dw, pw, _ = pruned.get_layer("sep1").get_weights()
    assert dw.shape == (3, 3, 3, 2) and pw.shape == (1, 1, 6, 24 - 22)


def test_flatten_then_dense_slices_rows_per_position():
    inp = keras.Input((6, 6, 1))
    x = layers.Conv2D(8, 3, activation="relu", name="c1")(inp)  # 4x4x8
    x = layers.MaxPooling2D(2, name="pool")(x)  # 2x2x8
    x = layers.Flatten(name="flat")(x)
    x = layers.Dropout(0.5, name="drop")(x)
    x = layers.Dense(16, activation="relu", name="fc1")(x)
    out = layers.Dense(4, activation="softmax", name="fc2")(x)
    model = keras.Model(inp, out)
    _check(model)
    pruned = prune(model, {"c1": [1, 6]})
    assert pruned.get_layer("fc1").get_weights()[0].shape == (2 * 2 * 2, 16)
    kept_rows = pruned.get_layer("fc1").get_weights()[0]
    full_rows = model.get_layer("fc1").get_weights()[0]
    np.testing.assert_array_equal(kept_rows, full_rows[[1, 6, 9, 14, 17, 22, 25, 30]])


def test_se_gate_keeps_gate_and_features_consistent():
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(16, 3, padding="same", name="features")(inp)
    x = layers.BatchNormalization(name="features_bn")(x)
    x = layers.Activation("swish", name="features_act")(x)
    s = layers.GlobalAveragePooling2D(name="se_squeeze")(x)
    s = layers.Dense(8, activation="relu", name="se_reduce")(s)
    s = layers.Dense(16, activation="sigmoid", name="se_expand")(s)
    s = layers.Reshape((1, 1, 16), name="se_reshape")(s)
    x = layers.Multiply(name="se_excite")([x, s])
    x = layers.Conv2D(8, 1, name="project")(x)
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert _group_of(graph, "features").members == ["features", "se_expand"]
    _check(model)
    pruned = prune(model, {"features": [0, 3, 4, 5, 11]})
    assert pruned.get_layer("se_expand").get_weights()[0].shape == (8, 5)
    assert pruned.get_layer("se_reshape").output.shape[-1] == 5


def test_unet_skip_concat_with_transpose_conv():
    inp = keras.Input((16, 16, 3))
    e1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="enc1")(inp)
    p1 = layers.MaxPooling2D(name="pool1")(e1)
    e2 = layers.Conv2D(16, 3, padding="same", activation="relu", name="enc2")(p1)
    u1 = layers.Conv2DTranspose(8, 2, strides=2, name="up1")(e2)
    c1 = layers.Concatenate(name="skip1")([u1, e1])
    d1 = layers.Conv2D(8, 3, padding="same", activation="relu", name="dec1")(c1)
    u2 = layers.UpSampling2D(name="up2")(layers.Cropping2D(1, name="crop")(layers.ZeroPadding2D(1, name="pad")(d1)))
    out = layers.Conv2D(2, 1, activation="softmax", name="seg")(u2)
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert {g.id for g in graph.prunable_groups} == {"enc1", "enc2", "up1", "dec1"}
    _check(model)


def test_sequential_model_stays_sequential():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            layers.Conv2D(16, 3, name="c1"),
            layers.BatchNormalization(name="bn"),
            layers.LeakyReLU(name="lrelu"),
            layers.PReLU(name="prelu"),
            layers.AveragePooling2D(2, name="avg"),
            layers.Flatten(name="flat"),
            layers.Dense(10, name="out"),
        ]
    )
    _check(model)
    pruned = prune(model, {"c1": [0, 1, 2]})
    assert isinstance(pruned, keras.Sequential)
    assert pruned.get_layer("prelu").get_weights()[0].shape == (6, 6, 3)


def test_output_layer_is_never_prunable():
    inp = keras.Input((4, 4, 1))
    x = layers.Conv2D(8, 3, name="c1")(inp)
    out = layers.Conv2D(8, 1, name="last")(x)
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert [g.id for g in graph.prunable_groups] == ["c1"]
    assert graph.group_by_id["last"].frozen_reason == "model output"


@pytest.mark.parametrize("fraction", [0.5, 0.25])
def test_residual_add_with_input_space_is_frozen(fraction):
    inp = keras.Input((6, 6, 4))
    x = layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    y = layers.Add(name="add_input")([inp, x])
    z = layers.Conv2D(8, 3, name="c2")(y)
    out = layers.Dense(2, name="head")(layers.Flatten(name="flat")(z))
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert [g.id for g in graph.prunable_groups] == ["c2"]
    _check(model, fraction)


# ---- keras.ops operation nodes ---------------------------------------------------------


def _hard_sigmoid(x):
    """As Keras' MobileNetV3 writes it: operation nodes around a ReLU6 layer."""
    return (layers.ReLU(6.0)(x + 3.0)) * (1.0 / 6.0)


def test_operation_nodes_with_scalars_keep_channels():
    """Hard sigmoid / hard swish written with keras.ops arithmetic, every binary op with the
    scalar on either side, and the unary keras.ops activations pass channels through."""
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(16, 3, padding="same", name="c1")(inp)
    x = layers.BatchNormalization(name="c1_bn")(x)
    x = x * _hard_sigmoid(x)  # hard swish
    x = keras.ops.maximum(keras.ops.minimum(2.0 - x, 4.0), -1.0) / 2.0
    x = keras.ops.true_divide(1.0, keras.ops.relu(x) + 1.0) - 0.5
    x = keras.ops.hard_silu(keras.ops.relu6(keras.ops.divide(x, 0.25)))
    x = keras.ops.silu(keras.ops.hard_sigmoid(keras.ops.sigmoid(x * np.float32(3.0))))
    x = layers.Conv2D(8, 1, name="c2")(x)
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inp, out)
    graph = analyze(model)
    group = _group_of(graph, "c1")
    assert group.prunable and group.members == ["c1"]
    operation_classes = {n.class_name for n in graph.nodes if n.class_name.startswith("keras.src.ops.")}
    assert {
        "keras.src.ops.numpy.Add",
        "keras.src.ops.numpy.Subtract",
        "keras.src.ops.numpy.Multiply",
        "keras.src.ops.numpy.Divide",
        "keras.src.ops.numpy.TrueDivide",
        "keras.src.ops.numpy.Maximum",
        "keras.src.ops.numpy.Minimum",
        "keras.src.ops.nn.Relu",
        "keras.src.ops.nn.Relu6",
        "keras.src.ops.nn.Sigmoid",
        "keras.src.ops.nn.Silu",
        "keras.src.ops.nn.HardSilu",
        "keras.src.ops.nn.HardSigmoid",
    } == operation_classes
    assert "c2" in group.consumers
    _check(model)
    pruned = prune(model, {"c1": [0, 2, 5]})
    assert pruned.get_layer("c2").get_weights()[0].shape == (1, 1, 3, 8)


def test_squeeze_excite_gate_with_operation_nodes_couples_gate_and_features():
    """MobileNetV3's SE block: the gate's hard sigmoid is written with keras.ops, and the
    gate multiplies the features with an operation node as well as with a layer."""
    inp = keras.Input((8, 8, 3))
    x = layers.Conv2D(16, 3, padding="same", name="features")(inp)
    s = layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(x)
    s = layers.Conv2D(4, 1, activation="relu", name="se_reduce")(s)
    s = layers.Conv2D(16, 1, name="se_expand")(s)
    y = layers.Multiply(name="se_excite")([x, _hard_sigmoid(s)])
    t = layers.Conv2D(16, 1, name="gate2")(layers.GlobalAveragePooling2D(keepdims=True)(y))
    y = y * keras.ops.sigmoid(t)  # operation node of two tensors: couples like Multiply
    z = layers.Conv2D(8, 1, name="project")(y)
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(z))
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert _group_of(graph, "features").members == ["features", "se_expand", "gate2"]
    assert _group_of(graph, "se_reduce").prunable
    _check(model)
    pruned = prune(model, {"features": [1, 4, 9, 15]})
    assert pruned.get_layer("se_expand").get_weights()[0].shape == (1, 1, 4, 4)
    assert pruned.get_layer("gate2").get_weights()[0].shape == (1, 1, 4, 4)


def test_operation_nodes_of_two_tensors_couple_or_broadcast():
    """ops.add / ops.maximum of two feature maps couple them; a one-channel operand (a
    spatial attention map) broadcasts and stays independent."""
    inp = keras.Input((8, 8, 3))
    a = layers.Conv2D(12, 3, padding="same", name="a")(inp)
    b = layers.Conv2D(12, 1, name="b")(inp)
    c = layers.Conv2D(12, 3, padding="same", name="c")(inp)
    m = keras.ops.maximum(a + b, c)
    attention = layers.Conv2D(1, 1, activation="sigmoid", name="attention")(m)
    m = keras.ops.subtract(m, attention) * attention
    z = layers.Conv2D(8, 1, name="after")(m)
    out = layers.Dense(3, name="head")(layers.GlobalAveragePooling2D(name="gap")(z))
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert sorted(_group_of(graph, "a").members) == ["a", "b", "c"]
    assert _group_of(graph, "attention").members == ["attention"]
    _check(model)


def test_operation_node_with_a_per_channel_constant_freezes_its_input():
    inp = keras.Input((6, 6, 3))
    x = layers.Conv2D(4, 3, padding="same", name="c1")(inp)
    x = x * np.array([1.0, 2.0, 3.0, 4.0], dtype="float32")  # one constant per channel
    y = layers.Conv2D(6, 3, padding="same", name="c2")(x)
    y = y + np.full((6, 6, 1), 0.5, dtype="float32")  # one entry on the channel axis: fine
    z = layers.Conv2D(5, 1, name="c3")(y)
    out = layers.Dense(2, name="head")(layers.Flatten(name="flat")(z))
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert {g.id for g in graph.prunable_groups} == {"c2", "c3"}
    assert "per-channel constant" in _group_of(graph, "c1").frozen_reason
    _check(model)


def test_operation_nodes_are_graph_nodes_callable_with_their_arguments():
    """The node list that pruning (and the masked replay) walks holds operation nodes whose
    operation computes the node's output from its arguments."""
    from service.surgery.graph import _graph_nodes

    inp = keras.Input((4, 4, 2))
    x = layers.Conv2D(4, 1, name="c1")(inp)
    out = layers.Conv2D(2, 1, name="c2")(keras.ops.minimum(x * 0.5, x + 1.0))
    model = keras.Model(inp, out)
    nodes = _graph_nodes(model)
    graph = analyze(model)
    assert [n.operation.name for n in nodes] == [n.name for n in graph.nodes]
    value = np.random.default_rng(0).normal(size=(1, 4, 4, 2)).astype("float32")
    values = {id(nodes[0].output_tensors[0]): value}
    for node in nodes[1:]:
        args = keras.tree.map_structure(
            lambda a: values[id(a)] if isinstance(a, keras.KerasTensor) else a, node.arguments.args
        )
        values[id(node.output_tensors[0])] = node.operation(*args)
    np.testing.assert_allclose(
        np.asarray(values[id(nodes[-1].output_tensors[0])]), np.asarray(model(value)), atol=1e-6
    )


def test_concatenate_along_a_spatial_axis_couples_its_inputs():
    """Concatenate along an axis other than channels is a merge: both inputs keep all
    their channels, so they must lose the same indices."""
    inp = keras.Input((4, 4, 3))
    a = layers.Conv2D(6, 1, name="a")(inp)
    b = layers.Conv2D(6, 1, name="b")(inp)
    c = layers.Concatenate(axis=1, name="stack_rows")([a, b])  # (8, 4, 6)
    out = layers.Dense(2, name="head")(layers.GlobalAveragePooling2D(name="gap")(c))
    model = keras.Model(inp, out)
    graph = analyze(model)
    assert graph.node_by_name["stack_rows"].role is Role.MERGE
    assert _group_of(graph, "a").members == ["a", "b"]
    _check(model)


def test_reshape_across_the_channel_axis_is_a_barrier():
    inp = keras.Input((4, 4, 3))
    x = layers.Conv2D(4, 1, name="c1")(inp)
    x = layers.Reshape((4, 16, 1), name="fold")(x)  # channels spread over a spatial axis
    x = layers.Conv2D(5, 1, name="c2")(x)
    out = layers.Dense(2, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inp, out)
    graph = analyze(model)
    fold = graph.node_by_name["fold"]
    assert fold.role is Role.BARRIER and fold.reshape_target == (4, 16, 1)
    assert graph.group_by_id["c1"].frozen_reason == "'fold' reshapes the channel axis"
    assert [g.id for g in graph.prunable_groups] == ["c2"]
    _check(model)


def test_merge_of_differently_laid_out_inputs_freezes_them():
    """Add of a two-space concatenation and a single space of the same width: channel i
    of one is not channel i of a single space in the other, so all stay whole."""
    inp = keras.Input((4, 4, 3))
    a = layers.Conv2D(4, 1, name="a")(inp)
    b = layers.Conv2D(4, 1, name="b")(inp)
    wide = layers.Conv2D(8, 1, name="wide")(inp)
    x = layers.Add(name="add")([layers.Concatenate(name="cat")([a, b]), wide])
    x = layers.Conv2D(4, 1, name="after")(x)
    out = layers.Dense(2, name="head")(layers.GlobalAveragePooling2D(name="gap")(x))
    model = keras.Model(inp, out)
    graph = analyze(model)
    reason = "'add' merges inputs whose channels are laid out differently"
    assert [graph.group_by_id[g].frozen_reason for g in ("a", "b", "wide")] == [reason] * 3
    assert [g.id for g in graph.prunable_groups] == ["after"]
    _check(model)


def test_concatenate_after_flatten_is_refused():
    """A flattened tensor repeats its channels once per position: concatenating it along
    the channel axis has no channel layout to offset."""
    inp = keras.Input((4, 4, 3))
    flat = layers.Flatten(name="flat")(layers.Conv2D(4, 1, name="c1")(inp))
    out = layers.Concatenate(name="join")([flat, flat])
    with pytest.raises(UnsupportedLayerError, match="'join'.*input was flattened"):
        analyze(keras.Model(inp, out))
