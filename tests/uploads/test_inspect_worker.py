"""What the inspection worker does once it runs (called in-process here; the child
process, its memory cap and time limit are tested in test_inspection.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from service.uploads import inspect_worker
from service.uploads.inspect_worker import Refused, check_h5_weights, inspect_dataset, inspect_model
from tests.uploads.builders import digits_model, keras_members, lambda_model, npz_bytes, small_dataset, zip_bytes


def write(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def load(path: Path) -> Any:
    import keras

    return keras.saving.load_model(path, safe_mode=True, compile=False)


def test_a_supported_model_is_described_as_surgery_sees_it(tmp_path: Path) -> None:
    from service.surgery import analyze, count_macs

    path = write(tmp_path, digits_model(), "upload.keras")
    analysis = inspect_model(path)
    model = load(path)
    graph = analyze(model)
    assert analysis["supported"] is True and analysis["unsupported"] == []
    assert analysis["input_shape"] == [8, 8, 1] and analysis["num_classes"] == 10
    assert analysis["macs"] == count_macs(graph) > 0
    assert analysis["params"] == model.count_params()
    assert analysis["groups"] == graph.summary()
    assert any(group["prunable"] for group in analysis["groups"])
    assert [layer["name"] for layer in analysis["layers"]] == [layer.name for layer in model.layers]
    assert {"name": "conv1", "class_name": "Conv2D", "output_channels": 32} in analysis["layers"]


def test_every_unsupported_layer_is_listed() -> None:
    import keras

    from service.uploads.analysis import describe_model

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, name="conv")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    x = keras.layers.GroupNormalization(groups=2, name="gnorm")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Activation("softmax", name="probs")(keras.layers.Dense(4, name="head")(x))
    model = keras.Model(inputs, outputs)
    analysis = describe_model(model)
    assert analysis["supported"] is False
    assert [(u["layer"], u["class_name"]) for u in analysis["unsupported"]] == [
        ("norm", "LayerNormalization"),
        ("gnorm", "GroupNormalization"),
    ]
    assert "not supported for structural pruning" in analysis["unsupported"][0]["reason"]
    assert analysis["macs"] is None and analysis["groups"] == []
    assert analysis["params"] == model.count_params()
    assert analysis["num_classes"] == 4  # the Dense behind the softmax


def test_a_model_level_refusal_names_the_model() -> None:
    import keras

    from service.uploads.analysis import describe_model

    inputs = keras.Input((8, 8, 4))
    shared = keras.layers.Conv2D(4, 3, padding="same", name="shared")
    left, right = keras.layers.ReLU()(inputs), keras.layers.ReLU(max_value=6.0)(inputs)
    model = keras.Model(inputs, keras.layers.Add()([shared(left), shared(right)]), name="twice")
    analysis = describe_model(model)
    [entry] = analysis["unsupported"]
    assert entry["layer"] == "twice" and "shared" in entry["reason"]
    assert analysis["num_classes"] is None  # a feature map, not class scores


def test_a_lambda_that_slipped_past_the_config_check_still_does_not_load(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="lambda") as caught:
        inspect_model(write(tmp_path, lambda_model(), "upload.keras"))
    assert str(tmp_path) not in str(caught.value)  # no server paths in messages


def weights_with(tmp_path: Path, build: Any) -> Path:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_dataset("layers/conv/vars/0", data=np.zeros(3))
        build(h5)
    members = {**keras_members(digits_model()), "model.weights.h5": buffer.getvalue()}
    return write(tmp_path, zip_bytes(members), "upload.keras")


def test_weights_that_read_other_files_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\x01" * 64)

    def external_link(h5: h5py.File) -> None:
        h5["layers/dense/vars/0"] = h5py.ExternalLink(str(secret), "/data")

    def external_storage(h5: h5py.File) -> None:
        h5.create_dataset("layers/dense/vars/1", shape=(64,), dtype="u1", external=[(str(secret), 0, 64)])

    with pytest.raises(Refused, match="links /layers/dense/vars/0 to another file"):
        check_h5_weights(weights_with(tmp_path, external_link))
    with pytest.raises(Refused, match="stores /layers/dense/vars/1 outside the file"):
        check_h5_weights(weights_with(tmp_path, external_storage))
    check_h5_weights(weights_with(tmp_path, lambda h5: h5.create_group("plain")))  # ordinary weights pass


def test_a_valid_npz_is_summarised(tmp_path: Path) -> None:
    summary = inspect_dataset(write(tmp_path, npz_bytes(**small_dataset(classes=3, train=24, test=9)), "upload.npz"))
    assert summary == {
        "task": "classification",
        "num_classes": 3,
        "image_shape": [8, 8, 1],
        "train_size": 24,
        "test_size": 9,
    }


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"extra": np.zeros(3)}, "holds the array 'extra'"),
        ({"y_train": np.linspace(0, 1, 24)}, "store class ids as integers"),
        ({"y_test": -np.ones(9, dtype=np.int64)}, "negative label"),
        ({"x_train": np.zeros((24, 8, 8, 2), dtype=np.uint8)}, "2 channels"),
        ({"y_train": np.arange(23)}, "23 labels but x_train has 24 images"),
        ({"x_test": np.full((9, 8, 8, 1), 3.0, dtype=np.float32)}, "not within [0, 1]"),
    ],
    ids=["extra-key", "float-labels", "negative", "channels", "count", "range"],
)
def test_malformed_npz_is_refused_with_the_loader_message(tmp_path: Path, change: dict, phrase: str) -> None:
    arrays = {**small_dataset(), **change}
    with pytest.raises(Refused) as caught:
        inspect_dataset(write(tmp_path, npz_bytes(**arrays), "upload.npz"))
    assert phrase in str(caught.value)


def test_missing_arrays_are_named(tmp_path: Path) -> None:
    arrays = small_dataset()
    del arrays["y_test"]
    with pytest.raises(Refused, match="lacks y_test") as caught:
        inspect_dataset(write(tmp_path, npz_bytes(**arrays), "upload.npz"))
    assert str(tmp_path) not in str(caught.value)


def test_object_arrays_are_not_unpickled(tmp_path: Path) -> None:
    arrays: dict[str, Any] = dict(small_dataset())
    arrays["y_train"] = np.array([object()] * 24, dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # allow_pickle is on for writing
    with pytest.raises(Refused, match="object arrays are refused"):
        inspect_dataset(write(tmp_path, buffer.getvalue(), "upload.npz"))


def test_run_reports_memory_and_other_failures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class ResourceExhaustedError(Exception):  # TensorFlow's, matched by name
        pass

    def failing(error: BaseException) -> Any:
        def inspect(path: Path, **options: Any) -> dict[str, Any]:
            raise error

        return inspect

    path = tmp_path / "upload.keras"
    wrapped = ValueError("A total of 1 objects could not be loaded.")  # how Keras reports a failed weight
    wrapped.__cause__ = ValueError("Unable to allocate 645. MiB for an array with shape (13000, 13000)")
    for error in [MemoryError(), ResourceExhaustedError("OOM"), wrapped]:
        monkeypatch.setitem(inspect_worker.INSPECTORS, "model", failing(error))
        assert inspect_worker.run("model", path) == {"ok": False, "reason": "memory", "message": type(error).__name__}
    monkeypatch.setitem(inspect_worker.INSPECTORS, "model", failing(ValueError(f"bad thing in {path}\nmore")))
    assert inspect_worker.run("model", path) == {
        "ok": False,
        "reason": "invalid",
        "message": "cannot load the uploaded model: bad thing in the uploaded model",
    }


def test_zip_members_of_the_fixture_are_what_keras_writes() -> None:
    assert set(zipfile.ZipFile(io.BytesIO(digits_model())).namelist()) == {"metadata.json", "config.json", "model.weights.h5"}
