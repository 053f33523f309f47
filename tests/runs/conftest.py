"""Run tests reuse the server fixtures (real database sessions and a live server)."""

from tests.db.backends import database_url, module_database_url  # noqa: F401  (fixtures)
from tests.server.conftest import db_session, live_server  # noqa: F401  (fixtures)
