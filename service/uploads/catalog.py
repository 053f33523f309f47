"""Where uploaded models and datasets are, and their records: what the runs side reads.

Files live under data_dir: models/<sha256>.keras and datasets/<sha256>.npz (the id is the
file's sha256, so the same file uploaded twice is one model). The built-in `digits`
dataset is always there and needs no upload.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from latency_tables.db import write_transaction
from service.db.file_store import SHA256_PATTERN
from service.db.uploads import StoredDataset, StoredModel
from service.row_fields import same_named

MODELS_DIR = "models"
DATASETS_DIR = "datasets"
INCOMING_DIR = "incoming"  # uploads being received and checked; emptied as each ends
DIGITS_ID = "digits"
DATASET_ID_PATTERN = rf"^({DIGITS_ID}|[0-9a-f]{{64}})$"
BUILTIN, NPZ = "builtin", "npz"
_SHA256 = re.compile(SHA256_PATTERN)


def _checked_id(file_id: str) -> str:
    if not _SHA256.match(file_id):
        raise ValueError(f"not an upload id (lowercase sha256 hex): {file_id!r}")
    return file_id


# ---- models ----------------------------------------------------------------------------


def model_keras_path(data_dir: Path, model_id: str) -> Path:
    """The stored .keras file of `model_id` (keras.saving.load_model accepts it)."""
    return Path(data_dir) / MODELS_DIR / f"{_checked_id(model_id)}.keras"


def find_model(session: Session, model_id: str) -> StoredModel | None:
    if not _SHA256.match(model_id):
        return None
    return session.get(StoredModel, model_id)


def list_models(session: Session) -> list[StoredModel]:
    return list(session.scalars(select(StoredModel).order_by(StoredModel.created_at, StoredModel.id)))


def model_analysis(record: StoredModel) -> dict[str, Any]:
    """input_shape, num_classes, macs, params, layers, groups, supported, unsupported, ..."""
    return record.analysis


def save_model_record(
    session: Session, model_id: str, filename: str, size_bytes: int, analysis: dict[str, Any]
) -> tuple[StoredModel, bool]:
    """Insert the record (its file must already be in place); (record, created). A record
    that exists, or that a concurrent upload of the same file inserted first, is returned."""
    row = StoredModel(id=model_id, filename=filename, size_bytes=size_bytes, analysis_json=json.dumps(analysis))
    return _insert_once(session, StoredModel, row)


# ---- datasets --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetRecord:
    id: str
    name: str
    kind: str  # BUILTIN | NPZ
    task: str  # classification | segmentation
    num_classes: int
    image_shape: list[int]  # [height, width, channels]
    train_size: int
    test_size: int
    filename: str | None = None
    size_bytes: int | None = None
    created_at: datetime | None = None

    @classmethod
    def of(cls, row: StoredDataset) -> DatasetRecord:
        return cls(**same_named(row, (f.name for f in fields(cls)), kind=NPZ))


@lru_cache(maxsize=1)
def digits_record() -> DatasetRecord:
    """The built-in dataset, described from the data itself (scikit-learn's bundled
    digits and the fixed split service.training uses; no TensorFlow)."""
    from service.training.digits_source import load_digits_dataset

    digits = load_digits_dataset()
    return DatasetRecord(
        id=DIGITS_ID,
        name=digits.name,
        kind=BUILTIN,
        task="classification",
        num_classes=digits.num_classes,
        image_shape=[int(side) for side in digits.input_shape],
        train_size=len(digits.x_train),
        test_size=len(digits.x_test),
    )


def dataset_npz_path(data_dir: Path, dataset_id: str) -> Path:
    return Path(data_dir) / DATASETS_DIR / f"{_checked_id(dataset_id)}.npz"


def find_dataset(session: Session, dataset_id: str) -> DatasetRecord | None:
    if dataset_id == DIGITS_ID:
        return digits_record()
    if not _SHA256.match(dataset_id):
        return None
    row = session.get(StoredDataset, dataset_id)
    return DatasetRecord.of(row) if row is not None else None


def list_datasets(session: Session) -> list[DatasetRecord]:
    """The built-in dataset first, then the uploads, oldest first."""
    rows = session.scalars(select(StoredDataset).order_by(StoredDataset.created_at, StoredDataset.id))
    return [digits_record(), *(DatasetRecord.of(row) for row in rows)]


def dataset_source(data_dir: Path, record: DatasetRecord) -> str:
    """What service.pruning.options.DataSpec(source=...) takes for this dataset."""
    if record.kind == BUILTIN:
        return record.id
    return str(dataset_npz_path(data_dir, record.id))


def save_dataset_record(
    session: Session, dataset_id: str, name: str, filename: str, size_bytes: int, summary: dict[str, Any]
) -> tuple[DatasetRecord, bool]:
    """Insert the record (its file must already be in place); (record, created)."""
    row = StoredDataset(
        id=dataset_id,
        name=name,
        filename=filename,
        size_bytes=size_bytes,
        task=summary["task"],
        num_classes=int(summary["num_classes"]),
        image_shape_json=json.dumps([int(side) for side in summary["image_shape"]]),
        train_size=int(summary["train_size"]),
        test_size=int(summary["test_size"]),
    )
    stored, created = _insert_once(session, StoredDataset, row)
    return DatasetRecord.of(stored), created


# ---- shared ----------------------------------------------------------------------------


def _insert_once(session: Session, table: Any, row: Any) -> tuple[Any, bool]:
    if session.in_transaction():
        session.commit()  # end the caller's read; write_transaction takes the write lock
    try:
        with write_transaction(session):
            existing = session.get(table, row.id)
            if existing is not None:
                return existing, False
            session.add(row)
    except IntegrityError:
        # PostgreSQL: a concurrent upload of the same file committed between our read and insert.
        existing = session.get(table, row.id)
        session.commit()
        if existing is None:
            raise
        return existing, False
    return row, True
