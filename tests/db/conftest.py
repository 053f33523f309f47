"""Database tests run on SQLite and on PostgreSQL (see backends.py)."""

from tests.db.backends import database_url, module_database_url  # noqa: F401  (fixtures)
