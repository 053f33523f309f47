"""Every pruned model saves and reloads as .keras and converts to the .tflite a device runs."""

from __future__ import annotations

import keras
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from service.costs.device_export import to_device_tflite
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
    # The reloaded graph is the same graph: operation nodes (keras.ops calls) included.
    assert [n.class_name for n in analyze(reloaded).nodes] == [n.class_name for n in analyze(pruned).nodes]

    # Batch 1, the conversion that measurements and artifacts use.
    interpreter = Interpreter(model_content=to_device_tflite(pruned))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[:1])
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, np.asarray(pruned(x[:1])), atol=1e-4)
