"""Uploaded models and datasets: one row each, keyed by the sha256 of the file's bytes.

The files themselves live under data_dir (service.uploads.catalog knows where); a row is
written only after its file is in place, so every row has its file. What the inspection
found (a model's layers, channel groups and costs) is kept as JSON: it is computed once,
in a child process that loads the model, and read on every GET and run creation.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from latency_tables.db import Base, UTCDateTime, utcnow


class StoredModel(Base):
    """A .keras file that passed validation and loaded in the inspection worker."""

    __tablename__ = "stored_models"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the file
    filename: Mapped[str] = mapped_column(String(255))  # as the uploader named it
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    analysis_json: Mapped[str] = mapped_column(Text)

    @property
    def analysis(self) -> dict[str, Any]:
        return dict(json.loads(self.analysis_json))


class StoredDataset(Base):
    """An .npz dataset (x_train, y_train, x_test, y_test) that passed validation."""

    __tablename__ = "stored_datasets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the file
    name: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    task: Mapped[str] = mapped_column(String(16))  # classification | segmentation
    num_classes: Mapped[int] = mapped_column(Integer)
    image_shape_json: Mapped[str] = mapped_column(String(64))  # [height, width, channels]
    train_size: Mapped[int] = mapped_column(Integer)
    test_size: Mapped[int] = mapped_column(Integer)

    @property
    def image_shape(self) -> list[int]:
        return [int(side) for side in json.loads(self.image_shape_json)]
