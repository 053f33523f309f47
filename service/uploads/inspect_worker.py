"""The child process that loads an upload: `python -m service.uploads.inspect_worker
KIND FILE RESULT --memory-bytes N` (KIND: model | dataset).

It caps its own address space first (RLIMIT_AS, before TensorFlow is imported), then
loads the file the way the runs will and writes RESULT as JSON: {"ok": true, "result":
...} or {"ok": false, "reason": "invalid" | "memory", "message": ...}. A crash or a kill
leaves no RESULT; service.uploads.inspection tells the user what happened.

The archive was checked before (service.uploads.archives, keras_config); here the
model's weights file is checked for HDF5 links to other files, then the model is loaded
with safe_mode by load_keras_file, the CLI's loader.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import zipfile
from pathlib import Path
from typing import Any

MESSAGE_LIMIT = 600
MAX_H5_OBJECTS = 200_000
OUT_OF_MEMORY_MESSAGES = ("Unable to allocate", "OOM when allocating", "Cannot allocate memory", "std::bad_alloc")


class Refused(Exception):
    """The file loads to something the service refuses; the message says what to change."""


def limit_memory(max_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort() must not dump gigabytes


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


def inspect_model(path: Path) -> dict[str, Any]:
    from service.pruning.offline_run import RunInputError, load_keras_file
    from service.uploads.analysis import describe_model

    check_h5_weights(path)
    try:
        model = load_keras_file(path)
    except RunInputError as exc:
        if _is_out_of_memory(exc):
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


def _is_out_of_memory(exc: BaseException) -> bool:
    """An allocation failure, also when Keras wrapped it in an error of its own ("A total
    of 1 objects could not be loaded ... Unable to allocate 645. MiB")."""
    for error in (exc, exc.__cause__):
        if isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError":
            return True  # TensorFlow's, matched by name: no TensorFlow import needed here
        if error is not None and any(marker in str(error) for marker in OUT_OF_MEMORY_MESSAGES):
            return True
    return False


def run(kind: str, path: Path) -> dict[str, Any]:
    try:
        return {"ok": True, "result": INSPECTORS[kind](path)}
    except Refused as exc:
        return {"ok": False, "reason": "invalid", "message": str(exc)[:MESSAGE_LIMIT]}
    except Exception as exc:
        if _is_out_of_memory(exc):
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
    args = parser.parse_args(argv)
    limit_memory(args.memory_bytes)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    payload = run(args.kind, args.file)
    args.result.write_text(json.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
