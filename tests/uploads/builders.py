"""Upload bodies for tests: real Keras models (good and hostile), crafted zip archives,
.npz datasets. Keras is imported only by the functions that build models."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def zip_bomb(member: str, unpacked_bytes: int) -> bytes:
    """A small archive whose one member inflates to `unpacked_bytes` of zeros."""
    buffer = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(member, "w", force_zip64=True) as out:
        for _ in range(unpacked_bytes // len(chunk)):
            out.write(chunk)
    return buffer.getvalue()


def keras_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def with_config(data: bytes, edit: Any) -> bytes:
    """The .keras archive `data` with config.json replaced by edit(config)."""
    members = keras_members(data)
    members["config.json"] = json.dumps(edit(json.loads(members["config.json"]))).encode()
    return zip_bytes(members)


def with_members(data: bytes, compress: bool = False, **extra: bytes) -> bytes:
    """The .keras archive `data` with members added or replaced (deflated if `compress`)."""
    compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    return zip_bytes({**keras_members(data), **extra}, compression)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def small_dataset(classes: int = 3, train: int = 24, test: int = 9, side: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (train, side, side, 1), dtype=np.uint8),
        "y_train": np.arange(train) % classes,
        "x_test": rng.integers(0, 256, (test, side, side, 1), dtype=np.uint8),
        "y_test": np.arange(test) % classes,
    }


# ---- real Keras models -----------------------------------------------------------------


def saved(model: Any) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "model.keras"
        model.save(path)
        return path.read_bytes()


@cache
def digits_model() -> bytes:
    from service.zoo import digits_cnn

    return saved(digits_cnn())


@cache
def lambda_model() -> bytes:
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    return saved(keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x)))


@cache
def custom_object_model() -> bytes:
    import keras

    @keras.saving.register_keras_serializable(package="tests_uploads")
    class Scale(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return x * 2.0

    inputs = keras.Input((8, 8, 1))
    x = Scale(name="scale")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    return saved(keras.Model(inputs, x))


@cache
def huge_layer_model() -> bytes:
    """A few KB of file whose config asks for a 100,000 x 200,000 Dense kernel (80 GB)."""
    import keras

    small = saved(keras.Sequential([keras.Input((10,)), keras.layers.Dense(20, name="dense")]))

    def grow(config: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(config).replace("[null, 10]", "[null, 100000]").replace('"units": 20', '"units": 200000')
        return dict(json.loads(text))

    return with_config(small, grow)


def tfsm_layer_config(data: bytes) -> bytes:
    """`data` with its first Conv2D turned into a TFSMLayer pointing at a server path."""

    def edit(config: dict[str, Any]) -> dict[str, Any]:
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "Conv2D":
                layer["class_name"] = "TFSMLayer"
                layer["config"] = {"name": layer["config"]["name"], "filepath": "/etc", "call_endpoint": "serve"}
                return config
        raise AssertionError("no Conv2D to replace")

    return with_config(data, edit)


@cache
def orthogonal_giant_model(units: int = 9216) -> bytes:
    """A few KB of file whose config asks for Input(units) -> Dense(units) with an
    orthogonal kernel (a QR decomposition of a units x units matrix when initialised),
    and whose weights file holds a 16 x 16 kernel: it can never load."""
    import keras

    small = saved(
        keras.Sequential([keras.Input((16,)), keras.layers.Dense(16, kernel_initializer="orthogonal", name="dense")])
    )

    def grow(config: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(config).replace("[null, 16]", f"[null, {units}]").replace('"units": 16', f'"units": {units}')
        return dict(json.loads(text))

    return with_config(small, grow)


@cache
def huge_input_model(side: int = 100_000) -> bytes:
    """A tiny conv net whose input is side x side x 3 (the config says so; the weights do
    not depend on it): it loads, but a run would resize every image to that size."""
    import keras

    inputs = keras.Input((side, side, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return saved(keras.Model(inputs, keras.layers.Dense(10, name="head")(x)))


@cache
def strided_input_model(side: int) -> bytes:
    """A 170-parameter classifier of side x side x 1 images (10 classes): its size is in
    the input, which a run resizes the whole dataset to."""
    import keras

    inputs = keras.Input((side, side, 1))
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return saved(keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head")(x)))
