"""Every pruned model saves and reloads as .keras and converts to .tflite."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from service.surgery import analyze, prune

from .exactness import random_keep


def test_pruned_model_saves_reloads_and_converts(any_model, tmp_path):
    graph = analyze(any_model)
    pruned = prune(any_model, random_keep(graph, 0.5, 5), graph=graph)
    path = tmp_path / "pruned.keras"
    pruned.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).normal(size=(2, *pruned.inputs[0].shape[1:])).astype("float32")
    np.testing.assert_allclose(np.asarray(reloaded(x)), np.asarray(pruned(x)), atol=1e-6)

    tflite = tf.lite.TFLiteConverter.from_keras_model(pruned).convert()
    interpreter = Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp["index"], x[:1].shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x[:1])
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, np.asarray(pruned(x[:1])), atol=1e-4)
