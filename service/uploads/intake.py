"""Taking in an upload that arrived as a temporary file: check, inspect, store, record.

In that order, so that a refused upload leaves nothing behind (the caller removes the
temporary file) and a record always has its file. Blocking (a child process loads the
file): call from a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from service.db.uploads import StoredModel
from service.settings import Settings
from service.uploads import catalog
from service.uploads.archives import check_keras_archive, check_npz_archive
from service.uploads.errors import UploadRejected
from service.uploads.inspection import inspect_upload
from service.uploads.limits import ModelLimits, model_limit_refusal

T = TypeVar("T")

MODEL_SUFFIX = ".keras"
DEFAULT_MODEL_FILENAME = "model.keras"


@dataclass(frozen=True)
class ReceivedFile:
    """An upload body written to a temporary file in data_dir/incoming."""

    path: Path
    sha256: str
    size: int


def model_filename(given: str | None) -> str:
    """The name to keep for an uploaded model; refuses names of other formats (415)."""
    if not given:
        return DEFAULT_MODEL_FILENAME
    name = PurePath(given.replace("\\", "/")).name or DEFAULT_MODEL_FILENAME
    suffix = PurePath(name).suffix.lower()
    if suffix in (".h5", ".hdf5"):
        raise UploadRejected(
            415,
            f"{name!r} is a legacy HDF5 model; the service accepts only .keras files: re-save it with "
            "model.save('model.keras')",
        )
    if suffix != MODEL_SUFFIX:
        raise UploadRejected(415, f"{name!r} is not a .keras file; upload a model saved with model.save('model.keras')")
    return name


def accept_model(
    session: Session, settings: Settings, upload: ReceivedFile, filename: str
) -> tuple[StoredModel, bool]:
    """The stored model for this upload, and whether it is new. Raises UploadRejected."""
    return _accept(
        session,
        settings,
        upload,
        kind="model",
        find=lambda: catalog.find_model(session, upload.sha256),
        check=lambda: check_keras_archive(upload.path, settings.max_model_uncompressed_bytes),
        max_params=settings.max_model_params,
        vet=lambda analysis: model_limit_refusal(analysis, ModelLimits.of(settings)),
        target=catalog.model_keras_path(settings.data_dir, upload.sha256),
        save=lambda analysis: catalog.save_model_record(session, upload.sha256, filename, upload.size, analysis),
    )


def accept_dataset(
    session: Session, settings: Settings, upload: ReceivedFile, name: str
) -> tuple[catalog.DatasetRecord, bool]:
    """The stored dataset for this upload, and whether it is new. Raises UploadRejected."""
    return _accept(
        session,
        settings,
        upload,
        kind="dataset",
        find=lambda: catalog.find_dataset(session, upload.sha256),
        check=lambda: check_npz_archive(upload.path, settings.max_dataset_uncompressed_bytes),
        target=catalog.dataset_npz_path(settings.data_dir, upload.sha256),
        save=lambda summary: catalog.save_dataset_record(
            session, upload.sha256, name, f"{name}.npz", upload.size, summary
        ),
    )


def _accept(
    session: Session,
    settings: Settings,
    upload: ReceivedFile,
    *,
    kind: str,
    find: Callable[[], T | None],
    check: Callable[[], object],
    target: Path,
    max_params: int | None = None,
    vet: Callable[[dict[str, Any]], str | None] = lambda found: None,
    save: Callable[[dict[str, Any]], tuple[T, bool]],
) -> tuple[T, bool]:
    existing = find()
    session.commit()  # no read transaction held while the child loads the file
    if existing is not None:  # the same bytes passed every check before
        return existing, False
    check()
    found = inspect_upload(
        kind,
        upload.path,
        memory_bytes=settings.inspect_memory_bytes,
        timeout_seconds=settings.inspect_timeout_seconds,
        max_params=max_params,
    )
    refusal = vet(found)
    if refusal is not None:
        raise UploadRejected(422, refusal)
    # Move the checked file into place (same filesystem: atomic), then record it.
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(upload.path, target)
    try:
        return save(found)
    except BaseException:
        # Remove the file unless a concurrent upload of the same bytes recorded it.
        try:
            recorded = find() is not None
        except Exception:
            recorded = True  # cannot tell: an orphan file is harmless, a missing one is not
        if not recorded:
            target.unlink(missing_ok=True)
        raise
