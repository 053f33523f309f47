"""Store tests run on SQLite and on PostgreSQL (see tests/db/backends.py)."""

from tests.db.backends import database_url, module_database_url  # noqa: F401  (fixtures)
