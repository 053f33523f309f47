"""config.json allow-list: what a .keras model may name, checked without Keras."""

from __future__ import annotations

import copy
import io
from typing import Any

import pytest

from service.uploads.errors import UploadRejected
from service.uploads.keras_config import LOADABLE_LAYERS, MAX_LAYERS, check_model_config


def layer(class_name: str, name: str, **config: Any) -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": class_name,
        "config": {
            "name": name,
            "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None},
            **config,
        },
        "registered_name": None,
        "name": name,
        "inbound_nodes": [],
    }


def functional(*layers: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "registered_name": "Functional",
        "config": {"name": "m", "layers": [layer("InputLayer", "input", batch_shape=[None, 8, 8, 1]), *layers]},
        "compile_config": {
            "optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {}, "registered_name": None},
            "loss": "sparse_categorical_crossentropy",
        },
    }


CONV = layer(
    "Conv2D",
    "conv",
    filters=4,
    activation="relu",
    kernel_initializer={"module": "keras.initializers", "class_name": "GlorotUniform", "config": {}, "registered_name": None},
    kernel_regularizer={"module": "keras.regularizers", "class_name": "L2", "config": {"l2": 1e-4}, "registered_name": None},
)


def refusal(config: dict[str, Any]) -> str:
    with pytest.raises(UploadRejected) as caught:
        check_model_config(config)
    assert caught.value.status == 422
    return str(caught.value)


def test_built_in_layers_and_helpers_pass() -> None:
    check_model_config(functional(CONV, layer("BatchNormalization", "bn"), layer("LSTM", "rnn")))
    sequential = {"module": "keras", "class_name": "Sequential", "config": {"layers": [CONV]}, "registered_name": None}
    check_model_config(sequential)


def test_built_in_function_by_name_passes() -> None:
    conv = copy.deepcopy(CONV)
    conv["config"]["activation"] = {"module": "builtins", "class_name": "function", "config": "gelu", "registered_name": "function"}
    check_model_config(functional(conv))


@pytest.mark.parametrize(
    ("bad", "phrases"),
    [
        (layer("Lambda", "double", function={"class_name": "__lambda__", "config": {"code": "4wEAAA"}}), ["'double'", "Lambda"]),
        (layer("TFSMLayer", "saved", filepath="/etc"), ["'saved'", "TFSMLayer", "SavedModel"]),
        (layer("StringLookup", "lookup", vocabulary="/etc/passwd"), ["'lookup'", "StringLookup", "allow-list"]),
        (
            {"module": None, "class_name": "Scale", "registered_name": "pkg>Scale", "config": {"name": "scale"}, "name": "scale"},
            ["custom object 'pkg>Scale'", "'scale'"],
        ),
        (
            {"module": "my_project.layers", "class_name": "Scale", "registered_name": None, "config": {"name": "s2"}, "name": "s2"},
            ["custom object 'Scale' from module 'my_project.layers'"],
        ),
        (
            {"module": "keras.src.export.tfsm_layer", "class_name": "TFSMLayer", "registered_name": None, "config": {}, "name": "x"},
            ["keras.src.export.tfsm_layer.TFSMLayer", "allow-list"],
        ),
    ],
    ids=["lambda", "tfsm", "lookup-file", "registered-custom", "custom-module", "internal-module"],
)
def test_refused_layers_are_named(bad: dict[str, Any], phrases: list[str]) -> None:
    message = refusal(functional(CONV, bad))
    for phrase in phrases:
        assert phrase in message


def test_custom_objects_inside_built_in_layers_are_refused() -> None:
    conv = copy.deepcopy(CONV)
    conv["config"]["activation"] = {
        "module": "builtins",
        "class_name": "function",
        "config": "pkg>my_relu",
        "registered_name": "function",
    }
    assert "custom function 'pkg>my_relu' (in layer 'conv')" in refusal(functional(conv))
    conv["config"]["activation"] = "relu"
    conv["config"]["kernel_initializer"] = {"module": None, "class_name": "MyInit", "registered_name": "pkg>MyInit", "config": {}}
    assert "custom object 'pkg>MyInit' (class MyInit) (in layer 'conv')" in refusal(functional(conv))


def test_a_bare_lambda_anywhere_is_refused() -> None:
    conv = copy.deepcopy(CONV)
    conv["config"]["kernel_constraint"] = {"class_name": "__lambda__", "config": {"code": "4wEAAA"}}
    assert "lambda (in layer 'conv')" in refusal(functional(conv))


def test_subclassed_or_foreign_top_level_is_refused() -> None:
    assert "not a Keras Functional or Sequential" in refusal({"module": "mine", "class_name": "Net", "config": {}})
    assert "not a Keras Functional or Sequential" in refusal([1, 2])  # type: ignore[arg-type]


def test_layer_count_is_capped() -> None:
    many = [layer("ReLU", f"r{i}") for i in range(MAX_LAYERS + 1)]
    assert f"more than {MAX_LAYERS:,} layers" in refusal(functional(*many))


def test_layers_that_run_code_or_read_files_are_not_loadable() -> None:
    assert not {"Lambda", "TFSMLayer", "StringLookup", "IntegerLookup", "TextVectorization"} & LOADABLE_LAYERS


def test_configs_keras_writes_for_real_models_pass() -> None:
    """The zoo and the keras.applications models the README says prune exactly."""
    import json
    import zipfile

    import keras

    from service.zoo import ZOO, build
    from tests.uploads.builders import saved

    models = [build(name) for name in ZOO]
    models.append(keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10))
    models.append(keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=10))
    models.append(keras.applications.EfficientNetV2B0(weights=None, input_shape=(32, 32, 3), classes=10))
    # keras.ops operation nodes (hard sigmoid written as ReLU6(x + 3) * (1 / 6)):
    models.append(keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=10))
    models.append(keras.applications.MobileNetV3Large(weights=None, input_shape=(32, 32, 3), classes=10))
    for model in models:
        with zipfile.ZipFile(io.BytesIO(saved(model))) as zf:
            check_model_config(json.loads(zf.read("config.json")))


def operation(module: str, class_name: str, name: str, **config: Any) -> dict[str, Any]:
    """An operation node as Keras serialises a keras.ops call of a Functional graph."""
    tensor = {"class_name": "__keras_tensor__", "config": {"shape": [None, 8, 8, 4], "dtype": "float32", "keras_history": ["conv", 0, 0]}}
    return {
        "module": module,
        "class_name": class_name,
        "config": {"name": name, **config},
        "registered_name": class_name,
        "name": name,
        "inbound_nodes": [{"args": [tensor, 3.0], "kwargs": {}}],
    }


def test_operation_nodes_surgery_understands_pass() -> None:
    check_model_config(
        functional(
            CONV,
            operation("keras.src.ops.numpy", "Add", "add"),
            operation("keras.src.ops.numpy", "Multiply", "multiply"),
            operation("keras.src.ops.nn", "HardSilu", "hard_silu"),
        )
    )


@pytest.mark.parametrize(
    ("bad", "phrases"),
    [
        (operation("keras.src.ops.numpy", "Clip", "clip", x_min=0.0, x_max=1.0), ["keras.src.ops.numpy.Clip", "'clip'", "Multiply"]),
        (operation("keras.src.ops.core", "Cond", "cond"), ["keras.src.ops.core.Cond", "'cond'"]),
        (operation("keras.src.ops.numpy", "Add", "add2", extra="x"), ["'add2'", "configuration beyond its name"]),
        (operation("keras.ops", "Add", "add3"), ["keras.ops.Add", "allow-list"]),
    ],
    ids=["unsupported-operation", "control-flow", "configured", "public-alias"],
)
def test_other_operations_are_refused(bad: dict[str, Any], phrases: list[str]) -> None:
    message = refusal(functional(CONV, bad))
    for phrase in phrases:
        assert phrase in message


def test_allowed_operations_are_keras_classes_configured_by_name_alone() -> None:
    """What the allow-list admits resolves to a keras.ops class whose only parameter is its
    name: a config.json entry of it can carry no code and no values."""
    import importlib
    import inspect

    from keras.src.ops.operation import Operation

    from service.surgery.operation_roles import OPERATION_CLASSES

    assert OPERATION_CLASSES
    for module, class_name in OPERATION_CLASSES:
        cls = getattr(importlib.import_module(module), class_name)
        assert issubclass(cls, Operation) and cls.__name__ == class_name and cls.__module__ == module
        assert list(inspect.signature(cls.__init__).parameters) == ["self", "name"], cls
