"""What the app does when it is built: leftovers of a crash are cleared."""

from __future__ import annotations

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
