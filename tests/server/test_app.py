"""What the app does when it is built and started: leftovers of a crash are cleared, the
request thread pool has the configured size."""

from __future__ import annotations

import anyio.to_thread
from fastapi.testclient import TestClient

from service.app import create_app
from service.uploads.catalog import INCOMING_DIR
from tests.server.conftest import make_settings


def test_uploads_interrupted_by_a_crash_are_removed_at_start(tmp_path):
    stale = tmp_path / "data" / INCOMING_DIR / "upload-123"
    stale.mkdir(parents=True)
    (stale / "body").write_bytes(b"half a model")
    kept = tmp_path / "data" / "models"
    kept.mkdir()
    create_app(make_settings(tmp_path / "data"))
    assert not (tmp_path / "data" / INCOMING_DIR).exists()
    assert kept.is_dir()


def test_the_request_thread_pool_has_the_configured_size(tmp_path):
    app = create_app(make_settings(tmp_path / "data", request_threads=1))
    with TestClient(app) as client:  # runs the lifespan in the client's event loop
        assert client.portal is not None
        tokens = client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
    assert tokens == 1
