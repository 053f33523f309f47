"""The catalog the runs side reads: records, paths, the built-in digits dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.uploads import catalog
from tests.db.backends import database_url  # noqa: F401  (fixture)
from tests.server.conftest import db_session  # noqa: F401  (fixture: SQLite, then PostgreSQL)

MODEL_ID = "a" * 64
DATASET_ID = "b" * 64
ANALYSIS = {"input_shape": [8, 8, 1], "num_classes": 10, "macs": 5, "params": 7, "supported": True, "groups": []}
SUMMARY = {"task": "classification", "num_classes": 3, "image_shape": [8, 8, 1], "train_size": 24, "test_size": 9}


@pytest.fixture
def session(db_session: Session) -> Session:  # noqa: F811
    return db_session


def test_models_are_recorded_once(session: Session) -> None:
    assert catalog.find_model(session, MODEL_ID) is None
    record, created = catalog.save_model_record(session, MODEL_ID, "m.keras", 123, ANALYSIS)
    assert created and record.id == MODEL_ID
    again, created = catalog.save_model_record(session, MODEL_ID, "other-name.keras", 123, ANALYSIS)
    assert not created and again.filename == "m.keras"
    found = catalog.find_model(session, MODEL_ID)
    assert found is not None and catalog.model_analysis(found) == ANALYSIS
    assert [m.id for m in catalog.list_models(session)] == [MODEL_ID]
    assert catalog.find_model(session, "not-a-sha") is None


def test_datasets_are_recorded_once_and_digits_is_built_in(session: Session, tmp_path: Path) -> None:
    record, created = catalog.save_dataset_record(session, DATASET_ID, "tiny", "tiny.npz", 99, SUMMARY)
    assert created
    assert (record.kind, record.num_classes, record.image_shape, record.train_size) == ("npz", 3, [8, 8, 1], 24)
    assert not catalog.save_dataset_record(session, DATASET_ID, "again", "again.npz", 99, SUMMARY)[1]
    assert catalog.find_dataset(session, DATASET_ID) == record
    assert [d.id for d in catalog.list_datasets(session)] == ["digits", DATASET_ID]
    assert catalog.dataset_source(tmp_path, record) == str(tmp_path / "datasets" / f"{DATASET_ID}.npz")
    assert catalog.find_dataset(session, "nope") is None

    digits = catalog.find_dataset(session, "digits")
    assert digits is not None and catalog.dataset_source(tmp_path, digits) == "digits"
    assert (digits.kind, digits.num_classes, digits.image_shape) == ("builtin", 10, [8, 8, 1])


def test_digits_record_describes_the_data_runs_load() -> None:
    from service.training.digits_source import load_digits_dataset

    data = load_digits_dataset()
    digits = catalog.digits_record()
    assert (digits.train_size, digits.test_size) == (len(data.x_train), len(data.x_test))
    assert digits.train_size + digits.test_size == 1797


def test_stored_paths(tmp_path: Path) -> None:
    path = catalog.model_keras_path(tmp_path, MODEL_ID)
    assert path == tmp_path / "models" / f"{MODEL_ID}.keras"
    with pytest.raises(ValueError, match="sha256"):
        catalog.model_keras_path(tmp_path, "../../etc/passwd")
    with pytest.raises(ValueError, match="sha256"):
        catalog.dataset_npz_path(tmp_path, "digits")
