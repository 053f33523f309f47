"""The child process that loads an upload: `python -m service.uploads.inspect_worker
KIND FILE RESULT --memory-bytes N [--max-params P]` (KIND: model | dataset).

It caps its own address space first (RLIMIT_AS, before TensorFlow is imported), then
loads the file the way the runs will and writes RESULT as JSON: {"ok": true, "result":
...} or {"ok": false, "reason": "invalid" | "memory", "message": ...}. A crash or a kill
leaves no RESULT; service.uploads.inspection tells the user what happened.

The archive was checked before (service.uploads.archives, keras_config); here the
model's weights file is checked for HDF5 links to other files, then the model is loaded
with safe_mode by load_keras_file, the CLI's loader, without running its initializers.

Why without: loading builds every layer, and building runs each weight's initializer
before the weights are read from the file and overwrite the result. A few bytes of
config can ask for an expensive one: a 7 kB file declaring Dense(9216) with an
orthogonal kernel spent ~100 s in a QR decomposition (measured:
benchmarks/inspection_initializers.py). Here every initializer is a counting zero fill:
it adds the weight's size to the model's parameter count and refuses the model past
--max-params before anything is allocated. The values never matter (the loader fails
unless the file supplies every weight), and the analysis reads shapes only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.resource_limits import is_out_of_memory, limit_address_space

MESSAGE_LIMIT = 600
MAX_H5_OBJECTS = 200_000
PARAMS_SETTING = "NETADAPT_MAX_MODEL_PARAMS"


class Refused(Exception):
    """The file loads to something the service refuses; the message says what to change."""


def check_h5_weights(path: Path) -> None:
    """Refuse HDF5 features that read other files: external links, external dataset
    storage, virtual datasets. (Keras would read a weight from wherever they point.)"""
    import h5py

    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as stream:
        try:
            weights = h5py.File(stream, "r")
        except OSError as exc:
            raise Refused(f"model.weights.h5 in the archive is not a readable HDF5 file ({exc})") from None
        with weights:
            _check_h5_objects(weights)


def _check_h5_objects(root: Any) -> None:
    import h5py

    stack, seen = [(root, "")], 0
    while stack:
        group, prefix = stack.pop()
        for key in group:
            where = f"{prefix}/{key}"
            seen += 1
            if seen > MAX_H5_OBJECTS:  # hard links can even make a group its own member
                raise Refused(f"model.weights.h5 has more than {MAX_H5_OBJECTS:,} objects; save the model afresh")
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise Refused(f"model.weights.h5 links {where} to another file; save the model afresh")
            if isinstance(link, h5py.SoftLink):
                continue  # a path inside this file, visited under its own name
            item = group[key]
            if isinstance(item, h5py.Group):
                stack.append((item, where))
            elif isinstance(item, h5py.Dataset) and (item.external or item.is_virtual):
                raise Refused(f"model.weights.h5 stores {where} outside the file; save the model afresh")


class ParameterBudget:
    """Counts the weights a model creates; refuses it past `limit` parameters."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.count = 0
        self.refusal: str | None = None

    def take(self, shape: Any) -> None:
        self.count += math.prod(int(side) for side in shape) if shape else 1
        if self.limit is not None and self.count > self.limit and self.refusal is None:
            self.refusal = (
                f"the model has more than {self.limit:,} parameters, the most this server accepts "
                f"({PARAMS_SETTING}); upload a smaller model"
            )
        if self.refusal is not None:
            raise Refused(self.refusal)


@contextmanager
def counting_zero_initializers(budget: ParameterBudget) -> Iterator[None]:
    """Every initializer Keras looks up while this block runs is a zero fill that counts
    parameters first (see the module docstring for why)."""
    import keras
    from keras.src import initializers  # layers and add_weight resolve initializers here

    class CountingZeros(keras.initializers.Initializer):
        def __call__(self, shape: Any, dtype: Any = None) -> Any:
            budget.take(shape)
            return keras.ops.zeros(shape, dtype=dtype)

    original = initializers.get
    initializers.get = lambda identifier: CountingZeros()
    try:
        yield
    finally:
        initializers.get = original


def inspect_model(path: Path, max_params: int | None = None) -> dict[str, Any]:
    from service.pruning.offline_run import RunInputError, load_keras_file
    from service.uploads.analysis import describe_model

    check_h5_weights(path)
    budget = ParameterBudget(max_params)
    try:
        with counting_zero_initializers(budget):
            model = load_keras_file(path)
    except RunInputError as exc:
        if budget.refusal is not None:  # Keras may have wrapped our refusal in its own error
            raise Refused(budget.refusal) from None
        if is_out_of_memory(exc):
            raise MemoryError(str(exc.__cause__ or exc)) from None
        message = str(exc).replace(str(path), "the uploaded model")
        if "Could not locate" in message:
            message += (
                " (the model refers to a custom class or function; the service loads only "
                "built-in Keras objects)"
            )
        raise Refused(message) from None
    return describe_model(model)


def inspect_dataset(path: Path) -> dict[str, Any]:
    from service.training.dataset_types import DatasetError
    from service.training.npz_source import REQUIRED_KEYS, load_npz_dataset

    with zipfile.ZipFile(path) as archive:
        keys = [name.removesuffix(".npy") for name in archive.namelist()]
    unexpected = sorted(set(keys) - set(REQUIRED_KEYS))
    if unexpected:
        raise Refused(
            f"the .npz holds the array {unexpected[0]!r}; a dataset holds exactly "
            f"{', '.join(REQUIRED_KEYS)}: drop the others"
        )
    try:
        dataset = load_npz_dataset(path)
    except DatasetError as exc:
        raise Refused(str(exc).replace(str(path), "the uploaded .npz")) from None
    return {
        "task": "segmentation" if dataset.is_segmentation else "classification",
        "num_classes": int(dataset.num_classes),
        "image_shape": [int(side) for side in dataset.input_shape],
        "train_size": int(len(dataset.x_train)),
        "test_size": int(len(dataset.x_test)),
    }


INSPECTORS = {"model": inspect_model, "dataset": inspect_dataset}


def run(kind: str, path: Path, max_params: int | None = None) -> dict[str, Any]:
    options = {"max_params": max_params} if kind == "model" else {}
    try:
        return {"ok": True, "result": INSPECTORS[kind](path, **options)}
    except Refused as exc:
        return {"ok": False, "reason": "invalid", "message": str(exc)[:MESSAGE_LIMIT]}
    except Exception as exc:
        if is_out_of_memory(exc):
            return {"ok": False, "reason": "memory", "message": type(exc).__name__}
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = text.replace(str(path), f"the uploaded {kind}")
        return {"ok": False, "reason": "invalid", "message": f"cannot load the uploaded {kind}: {text}"[:MESSAGE_LIMIT]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.uploads.inspect_worker")
    parser.add_argument("kind", choices=sorted(INSPECTORS))
    parser.add_argument("file", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--memory-bytes", type=int, required=True)
    parser.add_argument("--max-params", type=int, default=None, help="refuse models with more parameters")
    args = parser.parse_args(argv)
    limit_address_space(args.memory_bytes)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    payload = run(args.kind, args.file, args.max_params)
    args.result.write_text(json.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
