"""The .tflite files a run writes are the graphs its costs were measured on.

For each zoo model, in a run directory: a pruned variant saved as an iteration model, its
artifact written the way the server writes iteration artifacts (and KerasNetwork.finalize
writes final.tflite), and the artifact's ops read back with the .tflite reader. They must
equal the signatures the measured estimator prices for that channel configuration
(`signature_fn(graph, precision)`, as `offline_run._measured_estimator` builds it), and
the artifact's bytes must equal what the estimator sends to the device agent.
"""

from __future__ import annotations

import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from latency_tables.tflite_model import signatures_from_tflite
from service.costs.keras_signatures import signature_fn
from service.pruning.options import DataSpec, TrainingOptions
from service.pruning.run_layout import iteration_artifact
from service.pruning.run_tflite import run_tflite, write_tflites_beside
from service.surgery import analyze, prune
from service.training.export import save_keras
from service.zoo import build
from tests.costs.test_keras_signatures import random_counts
from tests.helpers.zoo_models import ZOO_TEST_KWARGS

CASES = [(name, "float32") for name in ZOO_TEST_KWARGS] + [(name, "int8") for name in ZOO_TEST_KWARGS]


def _dataset(tmp_path: Path, model) -> DataSpec:
    """A small .npz in the model's input shape (labels per image or per pixel, as it outputs)."""
    rng = np.random.default_rng(0)
    shape = tuple(model.inputs[0].shape[1:])
    out_shape = tuple(model.outputs[0].shape[1:-1])
    classes = int(model.outputs[0].shape[-1])
    path = tmp_path / "data.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (64, *shape), dtype=np.uint8),
        y_train=rng.integers(0, classes, (64, *out_shape)),
        x_test=rng.integers(0, 256, (16, *shape), dtype=np.uint8),
        y_test=rng.integers(0, classes, (16, *out_shape)),
    )
    return DataSpec(str(path))


@pytest.mark.parametrize(("name", "precision"), CASES)
def test_iteration_artifact_has_the_measured_ops(tmp_path: Path, name: str, precision: str) -> None:
    model = build(name, **ZOO_TEST_KWARGS[name])
    graph = analyze(model)
    (counts,) = random_counts(graph, zlib.crc32(name.encode()), variants=1)
    pruned = prune(model, {group: range(n) for group, n in counts.items()}, graph)
    data = _dataset(tmp_path, model)
    options = TrainingOptions(precision=precision, holdout=8)
    keras_path = save_keras(pruned, tmp_path / "run" / iteration_artifact(1))

    (artifact,) = write_tflites_beside([keras_path], data, options)

    assert artifact == keras_path.with_suffix(".tflite")
    content = artifact.read_bytes()
    measured = signature_fn(graph, precision)(counts)  # what the run priced and measured
    written = signatures_from_tflite(content)
    assert Counter(s.key for s in written) == Counter(s.key for s in measured), (
        f"{name} {precision} {counts}: artifact ops differ from the measured signatures"
    )
    assert content == run_tflite(pruned, data, options), "the agent measured other bytes than the artifact"
    details = Interpreter(model_content=content).get_input_details()[0]
    assert list(details["shape_signature"])[0] == 1  # batch 1, fixed: no shape arithmetic
    assert details["dtype"] == (np.int8 if precision == "int8" else np.float32)
