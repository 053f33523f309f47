"""Zip-level checks of uploaded .keras and .npz files, before anything loads them."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from service.uploads.archives import HDF5_SIGNATURE, MAX_CONFIG_BYTES, check_keras_archive, check_npz_archive, unsafe_member_reason
from service.uploads.errors import UploadRejected
from tests.uploads.builders import npz_bytes, small_dataset, zip_bomb, zip_bytes

LIMIT = 8 * 1024 * 1024
CONFIG = {"module": "keras", "class_name": "Sequential", "config": {"name": "m", "layers": []}, "registered_name": None}
GOOD_MEMBERS = {"metadata.json": b"{}", "config.json": json.dumps(CONFIG).encode(), "model.weights.h5": b"weights"}


def write(tmp_path: Path, data: bytes, name: str = "upload.keras") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(check, path: Path) -> UploadRejected:  # type: ignore[no-untyped-def]
    with pytest.raises(UploadRejected) as caught:
        check(path, LIMIT)
    return caught.value


def test_a_plain_keras_archive_passes_and_yields_its_config(tmp_path: Path) -> None:
    assert check_keras_archive(write(tmp_path, zip_bytes(GOOD_MEMBERS)), LIMIT) == CONFIG


@pytest.mark.parametrize(
    ("data", "status", "phrase"),
    [
        (b"just some bytes, not a zip", 415, "not a zip archive"),
        (HDF5_SIGNATURE + b"\x00" * 64, 415, "legacy HDF5 (.h5) model"),
        (zip_bytes({**GOOD_MEMBERS, "../../etc/cron.d/x": b"*"}), 422, "path traversal"),
        (zip_bytes({**GOOD_MEMBERS, "/etc/passwd": b"x"}), 422, "absolute path"),
        (zip_bytes({**GOOD_MEMBERS, "assets/vocab.txt": b"a"}), 422, "unexpected member 'assets/vocab.txt'"),
        (zip_bytes({"config.json": GOOD_MEMBERS["config.json"]}), 422, "no model.weights.h5"),
        (zip_bytes({**GOOD_MEMBERS, "config.json": b"{not json"}), 422, "config.json is not valid JSON"),
        (zip_bytes({**GOOD_MEMBERS, "config.json": b"[" * 100_000 + b"]" * 100_000}), 422, "nested too deeply"),
        (zip_bytes({**GOOD_MEMBERS, "config.json": b'{"class_name": "MyModel"}'}), 422, "not a Keras Functional"),
    ],
    ids=["not-zip", "h5", "traversal", "absolute", "assets", "no-weights", "bad-json", "deep-json", "subclassed"],
)
def test_keras_archive_refusals(tmp_path: Path, data: bytes, status: int, phrase: str) -> None:
    error = refused(check_keras_archive, write(tmp_path, data))
    assert error.status == status
    assert phrase in str(error)


def test_a_zip_bomb_is_refused_from_its_directory_alone(tmp_path: Path) -> None:
    bomb = zip_bomb("model.weights.h5", 2 * LIMIT)
    assert len(bomb) < LIMIT // 100  # tiny on the wire
    members = dict(GOOD_MEMBERS)
    del members["model.weights.h5"]
    with zipfile.ZipFile(write(tmp_path, bomb), "a") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    error = refused(check_keras_archive, tmp_path / "upload.keras")
    assert error.status == 413
    assert "NETADAPT_MAX_MODEL_UNCOMPRESSED_BYTES" in str(error) and f"{LIMIT:,}" in str(error)


def test_an_oversized_config_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    huge = b'{"pad": "' + b"x" * (MAX_CONFIG_BYTES + 1) + b'"}'
    data = zip_bytes({**GOOD_MEMBERS, "config.json": huge}, zipfile.ZIP_DEFLATED)
    with pytest.raises(UploadRejected, match="config of more than 16,777,216 bytes") as caught:
        check_keras_archive(write(tmp_path, data), 64 * 1024 * 1024)
    assert caught.value.status == 422


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    data = zip_bytes({f"x{i}.npy": b"" for i in range(100)})
    error = refused(check_npz_archive, write(tmp_path, data, "upload.npz"))
    assert error.status == 422 and "at most 64" in str(error)


def test_npz_archive_checks(tmp_path: Path) -> None:
    good = write(tmp_path, npz_bytes(**small_dataset()), "good.npz")
    assert sorted(check_npz_archive(good, LIMIT)) == ["x_test", "x_train", "y_test", "y_train"]

    cases = [
        (b"PK\x03\x04 truncated", 415, "not an .npz dataset"),
        (zip_bytes({"x_train.npy": b"", "../y_train.npy": b""}), 422, "path traversal"),
        (zip_bytes({"x_train.npy": b"", "notes.txt": b"hi"}), 422, "only .npy arrays"),
        (zip_bomb("x_train.npy", 2 * LIMIT), 413, "NETADAPT_MAX_DATASET_UNCOMPRESSED_BYTES"),
    ]
    for data, status, phrase in cases:
        error = refused(check_npz_archive, write(tmp_path, data, "bad.npz"))
        assert (error.status, phrase in str(error)) == (status, True), str(error)


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [
        ("config.json", False),
        ("assets/a/b.txt", False),
        ("a..b.npy", False),
        ("../x", True),
        ("a/../../x", True),
        ("/abs", True),
        ("C:/windows", True),
        ("a\\..\\x", True),
        ("", True),
        ("a\x00b", True),
    ],
)
def test_unsafe_member_names(name: str, unsafe: bool) -> None:
    assert (unsafe_member_reason(name) is not None) == unsafe


def test_numpy_npz_written_compressed_passes(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    np.savez_compressed(path, **small_dataset())
    assert len(check_npz_archive(path, LIMIT)) == 4
