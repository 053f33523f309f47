"""Atomic .keras saving, and the .tflite files the service writes (the device conversion:
batch 1, int8 end to end) checked against the Keras model with LiteRT."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from service.training.export import save_keras, to_tflite
from service.training.finetune import finetune
from service.training.tflite_inference import tflite_accuracy, tflite_predict
from service.training.evaluation import evaluate
from service.zoo import digits_cnn


@pytest.fixture(scope="module")
def trained_model(digits):
    # A trained model has confident predictions, so agreement measures the conversion and
    # not ties between near-uniform probabilities.
    keras.utils.set_random_seed(0)
    model = digits_cnn()
    finetune(
        model, digits.x_train, digits.y_train, steps=150, batch_size=32, learning_rate=3e-3,
        seed=0,
    )
    return model


def keras_probabilities(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def test_save_keras_round_trip_leaves_no_temporary_files(trained_model, digits, tmp_path):
    path = save_keras(trained_model, tmp_path / "models" / "digits.keras")
    assert [entry.name for entry in path.parent.iterdir()] == ["digits.keras"]
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(
        keras_probabilities(loaded, digits.x_test[:32]),
        keras_probabilities(trained_model, digits.x_test[:32]),
    )


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    model = digits_cnn()
    path = save_keras(model, tmp_path / "model.keras")
    previous = path.read_bytes()

    def crash_halfway(target, *args, **kwargs):
        with open(target, "wb") as stream:
            stream.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(model, "save", crash_halfway)
    with pytest.raises(OSError, match="disk full"):
        save_keras(model, path)
    assert path.read_bytes() == previous
    assert [entry.name for entry in tmp_path.iterdir()] == ["model.keras"]


def test_save_keras_wants_the_keras_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"end in \.keras"):
        save_keras(digits_cnn(), tmp_path / "model.h5")


def test_float32_tflite_matches_keras(trained_model, digits, tmp_path):
    path = to_tflite(trained_model, tmp_path / "digits.tflite")
    predicted = tflite_predict(path, digits.x_test)
    expected = keras_probabilities(trained_model, digits.x_test)
    np.testing.assert_allclose(predicted, expected, atol=1e-4)
    assert np.mean(predicted.argmax(-1) == expected.argmax(-1)) >= 0.99


def test_int8_tflite_mostly_agrees_with_keras(trained_model, digits, tmp_path):
    path = to_tflite(
        trained_model, tmp_path / "digits_int8.tflite", dtype="int8",
        representative=digits.x_train,
    )
    interpreter = Interpreter(model_path=str(path))
    # int8 in and out, as measured: the caller quantizes with the input's scale and zero point.
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    assert list(interpreter.get_input_details()[0]["shape_signature"]) == [1, 8, 8, 1]
    predicted = tflite_predict(path, digits.x_test)
    expected = keras_probabilities(trained_model, digits.x_test)
    assert np.mean(predicted.argmax(-1) == expected.argmax(-1)) >= 0.9
    keras_accuracy = evaluate(trained_model, digits.x_test, digits.y_test)
    assert abs(tflite_accuracy(path.read_bytes(), digits.x_test, digits.y_test) - keras_accuracy) < 0.05
    float_path = to_tflite(trained_model, tmp_path / "digits.tflite")
    assert path.stat().st_size < 0.5 * float_path.stat().st_size


def test_files_are_the_measured_conversion(trained_model, digits, tmp_path):
    from service.costs.device_export import to_device_tflite

    assert to_tflite(trained_model, tmp_path / "f.tflite").read_bytes() == to_device_tflite(trained_model)
    int8 = to_tflite(trained_model, tmp_path / "q.tflite", "int8", representative=digits.x_train)
    assert int8.read_bytes() == to_device_tflite(trained_model, "int8", representative=digits.x_train)


def test_tflite_argument_errors(tmp_path):
    model = digits_cnn()
    with pytest.raises(ValueError, match="representative inputs"):
        to_tflite(model, tmp_path / "m.tflite", dtype="int8")
    with pytest.raises(ValueError, match="dtype must be one of"):
        to_tflite(model, tmp_path / "m.tflite", dtype="float16")
