"""Every zoo model builds, names its layers uniquely, and survives a .keras round trip."""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from service.zoo import ZOO, build, mobilenet_v1, mobilenet_v2

EXPECTED_OUTPUT_SHAPES = {
    "digits_cnn": (None, 10),
    "mobilenet_v1": (None, 10),
    "mobilenet_v2": (None, 10),
    "resnet20": (None, 10),
    "vgg": (None, 10),
    "unet": (None, 32, 32, 2),
}


@functools.cache
def built(name: str) -> keras.Model:
    # Building MobileNetV1 takes seconds; share one instance across the read-only tests.
    return build(name)


def test_registry_lists_every_model():
    assert set(ZOO) == set(EXPECTED_OUTPUT_SHAPES)


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT_SHAPES))
def test_output_shape(name):
    assert built(name).output_shape == EXPECTED_OUTPUT_SHAPES[name]


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT_SHAPES))
def test_layer_names_are_unique_and_readable(name):
    names = [layer.name for layer in built(name).layers]
    assert len(names) == len(set(names))
    # Auto-generated names ("conv2d_3", "batch_normalization_7") would mean a layer was
    # created without an explicit name.
    generic = ("conv2d", "batch_normalization", "re_lu", "dense", "depthwise_conv2d", "add")
    assert not [n for n in names if n.startswith(generic) and n.rsplit("_", 1)[-1].isdigit()]


@pytest.mark.parametrize("name", sorted(EXPECTED_OUTPUT_SHAPES))
def test_keras_round_trip_keeps_outputs(name, tmp_path):
    model = built(name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    inputs = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(inputs, training=False)),
        keras.ops.convert_to_numpy(loaded(inputs, training=False)),
    )
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


@pytest.mark.parametrize("name", ["digits_cnn", "mobilenet_v1", "mobilenet_v2", "resnet20", "vgg"])
def test_classifiers_output_probabilities(name):
    model = built(name)
    inputs = np.random.default_rng(1).random((3, *model.input_shape[1:]), dtype=np.float32)
    sums = keras.ops.convert_to_numpy(model(inputs, training=False)).sum(axis=-1)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)


def test_unet_outputs_per_pixel_probabilities():
    model = built("unet")
    inputs = np.random.default_rng(2).random((1, 32, 32, 3), dtype=np.float32)
    sums = keras.ops.convert_to_numpy(model(inputs, training=False)).sum(axis=-1)
    np.testing.assert_allclose(sums, np.ones((1, 32, 32)), rtol=1e-5)


def test_resnet20_projects_shortcuts_only_where_the_shape_changes():
    names = {layer.name for layer in built("resnet20").layers}
    shortcuts = sorted(n for n in names if n.endswith("_shortcut"))
    assert shortcuts == ["stage2_block1_shortcut", "stage3_block1_shortcut"]
    assert sum(n.endswith("_add") for n in names) == 9


def test_mobilenet_v2_adds_residuals_only_for_matching_shapes():
    model = built("mobilenet_v2")
    for layer in model.layers:
        if isinstance(layer, keras.layers.Add):
            first, second = (tensor.shape for tensor in layer.input)
            assert first == second


@pytest.mark.parametrize("builder", [mobilenet_v1, mobilenet_v2])
def test_alpha_scales_width_in_multiples_of_eight(builder):
    thin = builder(alpha=0.5)
    assert thin.count_params() < builder(alpha=1.0).count_params()
    conv_widths = [
        layer.filters for layer in thin.layers if isinstance(layer, keras.layers.Conv2D)
        and not isinstance(layer, keras.layers.DepthwiseConv2D) and layer.name != "predictions"
    ]
    assert conv_widths and all(width % 8 == 0 for width in conv_widths)


def test_models_accept_other_input_shapes():
    assert build("digits_cnn", input_shape=(32, 32, 3), num_classes=4).output_shape == (None, 4)
    assert build("resnet20", input_shape=(64, 64, 1)).output_shape == (None, 10)
    assert build("unet", input_shape=(16, 16, 1), num_classes=3).output_shape == (None, 16, 16, 3)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown model 'lenet'") as error:
        build("lenet")
    for name in ZOO:
        assert name in str(error.value)


def test_input_sizes_that_cannot_be_pooled_are_refused():
    with pytest.raises(ValueError, match="divisible by 4"):
        build("unet", input_shape=(30, 30, 3))
    with pytest.raises(ValueError, match="divisible by 8"):
        build("vgg", input_shape=(20, 20, 3))
