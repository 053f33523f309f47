"""A live server for the upload API tests (tests/server/test_models_api.py and
test_datasets_api.py), with archive limits small enough for quick zip bombs, and the
checks they share. Import the fixtures `server` and `client` into a test module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from service.db.uploads import StoredDataset, StoredModel
from tests.server.conftest import LiveServer, make_settings, running_server
from tests.server.helpers import API_HEADERS

UNCOMPRESSED_LIMIT = 4 * 1024 * 1024
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("uploads") / "data",
        database_url=module_database_url,
        max_model_uncompressed_bytes=UNCOMPRESSED_LIMIT,
        max_dataset_uncompressed_bytes=UNCOMPRESSED_LIMIT,
    )
    with running_server(settings) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=API_HEADERS, timeout=300) as client:
        yield client


def stored_state(server: LiveServer) -> tuple[set[str], int, int]:
    """Files under the data dir (but the SQLite database's), and upload rows."""
    data_dir = server.settings.data_dir
    files = {str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith("netadapt.db")}
    with server.session() as session:
        models = session.scalar(select(func.count()).select_from(StoredModel))
        datasets = session.scalar(select(func.count()).select_from(StoredDataset))
    return files, int(models or 0), int(datasets or 0)


def assert_problem(response: httpx.Response, status: int, phrase: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and phrase in body["detail"], body
