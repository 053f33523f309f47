"""Zip archives checked as plain zip files, before anything loads them.

Both uploads are zip archives: a .keras model (config.json, metadata.json and
model.weights.h5) and an .npz dataset (one .npy member per array). Before a member is
read we refuse what is not a zip, encrypted or exotically compressed members, names that
point outside the archive, and archives whose members add up to more uncompressed bytes
than the server's limit. The limit holds for what is read later too: zipfile never
returns more bytes than a member declares (and checks the CRC at its end), and Keras and
numpy read through zipfile.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from service.uploads.errors import UploadRejected
from service.uploads.keras_config import check_model_config

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_MEMBERS = 64
# config.json is parsed in the server process: big enough for any real model (keras.
# applications' EfficientNetB0 writes 230 KB), small enough to parse without harm.
MAX_CONFIG_BYTES = 16 * 1024 * 1024
KERAS_CONFIG = "config.json"
KERAS_METADATA = "metadata.json"
KERAS_WEIGHTS = "model.weights.h5"
KERAS_REQUIRED = (KERAS_CONFIG, KERAS_WEIGHTS)
KERAS_MEMBERS = frozenset({KERAS_CONFIG, KERAS_METADATA, KERAS_WEIGHTS})
NPY_SUFFIX = ".npy"
_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_SAVE_MODEL = "save the model in the Keras 3 format with model.save('model.keras')"
_SAVE_NPZ = "write it with numpy.savez('data.npz', x_train=..., y_train=..., x_test=..., y_test=...)"


def check_keras_archive(path: Path, max_uncompressed: int) -> dict[str, Any]:
    """Check an uploaded .keras file; return its parsed config.json.

    Raises UploadRejected: 415 for an HDF5 (.h5) model or anything that is not a zip,
    413 past `max_uncompressed`, 422 for unexpected members or a config that names
    anything but allow-listed built-in Keras objects.
    """
    if _starts_with(path, HDF5_SIGNATURE):
        raise UploadRejected(
            415, f"this is a legacy HDF5 (.h5) model; the service accepts only .keras files: {_SAVE_MODEL}"
        )
    with _open_zip(path, "a .keras model", _SAVE_MODEL, max_uncompressed, "NETADAPT_MAX_MODEL_UNCOMPRESSED_BYTES") as zf:
        names = set(zf.namelist())
        unexpected = sorted(names - KERAS_MEMBERS)
        if unexpected:
            raise UploadRejected(
                422,
                f"unexpected member {unexpected[0]!r} in the .keras archive; a model file holds only "
                f"{', '.join(sorted(KERAS_MEMBERS))} (assets and other weight formats are not accepted): "
                f"{_SAVE_MODEL}",
            )
        missing = [name for name in KERAS_REQUIRED if name not in names]
        if missing:
            raise UploadRejected(422, f"the .keras archive has no {missing[0]}; {_SAVE_MODEL}")
        config = _read_json(zf, KERAS_CONFIG)
    check_model_config(config)
    return config


def check_npz_archive(path: Path, max_uncompressed: int) -> list[str]:
    """Check an uploaded .npz file as a zip of .npy members; return the array names.

    Which arrays it must hold, and their shapes and dtypes, are checked when it is loaded
    (service.training.npz_source, in the inspection worker).
    """
    if _starts_with(path, HDF5_SIGNATURE):
        raise UploadRejected(415, f"this is an HDF5 file, not an .npz dataset; {_SAVE_NPZ}")
    with _open_zip(path, "an .npz dataset", _SAVE_NPZ, max_uncompressed, "NETADAPT_MAX_DATASET_UNCOMPRESSED_BYTES") as zf:
        names = zf.namelist()
    keys = []
    for name in names:
        if "/" in name or not name.endswith(NPY_SUFFIX):
            raise UploadRejected(
                422, f"unexpected member {name!r} in the .npz archive; it must hold only .npy arrays: {_SAVE_NPZ}"
            )
        keys.append(name[: -len(NPY_SUFFIX)])
    return keys


def _starts_with(path: Path, signature: bytes) -> bool:
    with open(path, "rb") as stream:
        return stream.read(len(signature)) == signature


def _open_zip(path: Path, what: str, how: str, max_uncompressed: int, setting: str) -> zipfile.ZipFile:
    """The archive at `path`, opened after its directory passed every check."""
    if not zipfile.is_zipfile(path):
        raise UploadRejected(415, f"the body is not {what} (not a zip archive); {how}")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise UploadRejected(415, f"the body is not a readable zip archive ({exc}); {how}") from None
    try:
        _check_members(zf.infolist(), what, max_uncompressed, setting)
    except BaseException:
        zf.close()
        raise
    return zf


def _check_members(members: list[zipfile.ZipInfo], what: str, max_uncompressed: int, setting: str) -> None:
    if len(members) > MAX_MEMBERS:
        raise UploadRejected(422, f"the archive has {len(members)} members; {what} has at most {MAX_MEMBERS}")
    seen: set[str] = set()
    for member in members:
        name = member.filename
        reason = unsafe_member_reason(name)
        if reason:
            raise UploadRejected(422, f"archive member {name!r} {reason}; refusing the archive (path traversal)")
        if name in seen:
            raise UploadRejected(422, f"archive member {name!r} appears twice; write the archive afresh")
        seen.add(name)
        if member.flag_bits & 0x1:
            raise UploadRejected(422, f"archive member {name!r} is encrypted; upload an unencrypted archive")
        if member.compress_type not in _COMPRESSIONS:
            raise UploadRejected(
                422, f"archive member {name!r} uses compression method {member.compress_type}; "
                "only stored or deflated members are accepted",
            )
    total = sum(member.file_size for member in members)
    if total > max_uncompressed:
        raise UploadRejected(
            413,
            f"the archive unpacks to {total:,} bytes, more than this server accepts for {what} "
            f"({max_uncompressed:,} bytes, {setting}); upload a smaller file",
        )


def unsafe_member_reason(name: str) -> str | None:
    """Why a zip member name could escape the directory it is extracted to, or None."""
    if not name or "\x00" in name:
        return "has an empty or NUL-containing name"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "climbs out of the archive with '..'"
    return None


def _read_json(zf: zipfile.ZipFile, name: str) -> Any:
    size = zf.getinfo(name).file_size
    if size > MAX_CONFIG_BYTES:
        raise UploadRejected(
            422, f"{name} is {size:,} bytes; a model config of more than {MAX_CONFIG_BYTES:,} bytes is refused"
        )
    try:
        text = zf.read(name).decode("utf-8")
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        # zlib errors, CRC mismatches and bad UTF-8 all end here.
        raise UploadRejected(422, f"cannot read {name} from the archive ({exc}); {_SAVE_MODEL}") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise UploadRejected(422, f"{name} is nested too deeply to be a Keras model config") from None
    except ValueError as exc:
        raise UploadRejected(422, f"{name} is not valid JSON ({exc}); {_SAVE_MODEL}") from None
