"""Models and layers we cannot prune are refused with errors that name the problem."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from service.surgery import (
    InvalidKeepError,
    UnsupportedLayerError,
    UnsupportedModelError,
    UnsupportedOperationError,
    analyze,
    prune,
)


class TinySubclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(4, 3)

    def call(self, x):
        return self.conv(x)


def test_subclassed_model_is_refused_by_name():
    model = TinySubclassed()
    model(keras.ops.zeros((1, 8, 8, 1)))
    with pytest.raises(UnsupportedModelError, match="subclassed keras.Model.*TinySubclassed.*Functional"):
        analyze(model)


def test_unsupported_layer_is_named_with_its_class():
    inp = keras.Input((8, 8, 2))
    x = layers.Conv2D(4, 3, name="c1")(inp)
    x = layers.LayerNormalization(name="ln")(x)
    model = keras.Model(inp, layers.Conv2D(2, 1, name="c2")(x))
    with pytest.raises(UnsupportedLayerError) as err:
        analyze(model)
    assert err.value.layer_name == "ln" and err.value.class_name == "LayerNormalization"
    assert "'ln' of class LayerNormalization" in str(err.value)


def test_nested_model_is_refused():
    inner_in = keras.Input((8, 8, 2))
    inner = keras.Model(inner_in, layers.Conv2D(4, 3)(inner_in), name="backbone")
    inp = keras.Input((8, 8, 2))
    model = keras.Model(inp, layers.Conv2D(2, 1)(inner(inp)))
    with pytest.raises(UnsupportedLayerError, match="'backbone'.*nested models"):
        analyze(model)


def test_shared_layer_is_refused():
    shared = layers.Conv2D(2, 1, name="shared")
    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, layers.Add()([shared(inp), shared(shared(inp))]))
    with pytest.raises(UnsupportedModelError, match="'shared' is called more than once"):
        analyze(model)


def test_unbuilt_sequential_is_refused():
    with pytest.raises(UnsupportedModelError, match="keras.Input"):
        analyze(keras.Sequential([layers.Dense(3)]))


def test_channel_mixing_softmax_freezes_instead_of_failing():
    inp = keras.Input((6, 6, 2))
    x = layers.Conv2D(8, 3, name="c1")(inp)
    x = layers.Softmax(name="soft")(x)
    out = layers.Conv2D(4, 1, name="c2")(layers.Conv2D(8, 1, name="c_mid")(x))
    graph = analyze(keras.Model(inp, out))
    assert not graph.group_by_id["c1"].prunable
    assert "soft" in graph.group_by_id["c1"].frozen_reason
    assert graph.group_by_id["c_mid"].prunable


@pytest.mark.parametrize(
    "keep,message",
    [
        ({"nope": [0]}, "unknown channel group 'nope'; prunable groups: c1"),
        ({"c2": [0]}, "cannot be pruned \\(model output\\)"),
        ({"c1": []}, "at least one channel"),
        ({"c1": [0, 0]}, "repeat"),
        ({"c1": [0, 8]}, "has 8 channels"),
    ],
)
def test_bad_keep_mappings_are_refused(keep, message):
    inp = keras.Input((6, 6, 2))
    model = keras.Model(inp, layers.Conv2D(4, 1, name="c2")(layers.Conv2D(8, 3, name="c1")(inp)))
    with pytest.raises(InvalidKeepError, match=message):
        prune(model, keep)


@pytest.mark.parametrize(
    "make, name, class_name",
    [
        (lambda x: keras.ops.clip(x, 0.0, 1.0), "clip", "keras.src.ops.numpy.Clip"),
        (lambda x: keras.ops.sum(x, axis=-1, keepdims=True), "sum", "keras.src.ops.numpy.Sum"),
        (lambda x: keras.ops.softmax(x), "softmax", "keras.src.ops.nn.Softmax"),
    ],
)
def test_unsupported_operation_node_is_named_with_its_class(make, name, class_name):
    """keras.ops calls that surgery does not know raise its own error (never an
    AttributeError from treating an operation as a layer)."""
    inp = keras.Input((8, 8, 2))
    x = make(layers.Conv2D(4, 3, name="c1")(inp))
    model = keras.Model(inp, layers.Conv2D(2, 1, name="c2")(x))
    with pytest.raises(UnsupportedOperationError) as err:
        analyze(model)
    assert err.value.class_name == class_name and err.value.layer_name.startswith(name)
    assert f"operation '{err.value.layer_name}' of class {class_name}" in str(err.value)
    assert isinstance(err.value, UnsupportedLayerError)



def test_a_channel_axis_of_unknown_size_is_refused_with_the_fix():
    # Reshape((-1, 8)) of a map of unknown height and width, then Flatten: the flattened
    # width is unknown, so the Flatten's output space has no size.
    inp = keras.Input((None, None, 3))
    x = layers.Conv2D(8, 3, name="c1")(inp)
    x = layers.Reshape((-1, 8), name="rows")(x)
    model = keras.Model(inp, layers.Flatten(name="flat")(x))
    with pytest.raises(UnsupportedLayerError, match=r"'flat'.*no fixed size.*keras.Input\(\(32, 32, 3\)\)"):
        analyze(model)
