"""Schema migrations (Alembic), run programmatically: no alembic.ini, works installed.

`upgrade(engine)` brings a database to the newest revision; `Database.connect` calls it
on every start, on SQLite and PostgreSQL alike. Concurrent starts are safe: the upgrade
runs under the database's write lock (BEGIN IMMEDIATE on SQLite, an advisory lock on
PostgreSQL), so a second server waits, then finds the schema current.

A database made by `create_all` before migrations existed (no alembic_version table, but
the first revision's tables) is stamped with that revision, then upgraded.

Changing a table? Change its ORM class (service/db/tables.py, runs.py, uploads.py; the
store's in latency_tables/store.py), then generate a revision and review it:

    python -m service.db.migrations revision -m "what changed"

tests/db/test_migrations.py fails while the ORM tables and the migrations differ.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, func, inspect, select
from sqlalchemy.engine import Connection

from latency_tables.db import is_postgresql

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"
# The first revision, and the tables a pre-migration (create_all) database had then.
BASELINE_REVISION = "0001"
BASELINE_TABLES = frozenset(
    {"device_profiles", "table_entries", "model_measurements", "agents", "jobs"}
)
# pg_advisory_xact_lock key: any constant unique to this purpose.
_POSTGRES_LOCK_KEY = 0x6E6574616461  # "netada"

_WRITE_LOCK_OPTION = "netadapt_write_lock"  # latency_tables.db: BEGIN IMMEDIATE on SQLite
# Alembic keeps the running migration in module globals (alembic.context, alembic.op):
# two threads of one process must not migrate at the same time, even different databases.
_ALEMBIC_LOCK = threading.Lock()


def metadata() -> MetaData:
    """Every table of the service and the store, on one metadata (imports the modules
    that declare them)."""
    import latency_tables.store  # noqa: F401
    import service.db.runs
    import service.db.tables
    import service.db.uploads  # noqa: F401
    from latency_tables.db import Base

    return Base.metadata


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Keep revision file names short and sortable: 0001_initial.py, 0002_....py
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the newest), holding the write lock."""
    from alembic import command

    with (
        _ALEMBIC_LOCK,
        engine.connect().execution_options(**{_WRITE_LOCK_OPTION: True}) as connection,
        connection.begin(),
    ):
        if is_postgresql(connection):
            connection.execute(select(func.pg_advisory_xact_lock(_POSTGRES_LOCK_KEY)))
        config = alembic_config(connection)
        _stamp_pre_migration_schema(connection, config)
        command.upgrade(config, revision)


def _stamp_pre_migration_schema(connection: Connection, config: Any) -> None:
    from alembic import command

    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables or not tables & BASELINE_TABLES:
        return
    missing = BASELINE_TABLES - tables
    if missing:
        raise RuntimeError(
            f"the database has some of the service's tables but no migration history and lacks "
            f"{', '.join(sorted(missing))}: it was not made by this service; use an empty database"
        )
    command.stamp(config, BASELINE_REVISION)


def differences(engine: Engine) -> list[Any]:
    """What autogenerate would put in a new revision: [] when the ORM tables and the
    database (at head) agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from service.db.migrations.env_options import configure_options

    with _ALEMBIC_LOCK, engine.connect() as connection:
        context = MigrationContext.configure(connection, opts=configure_options(connection))
        return list(compare_metadata(context, metadata()))


__all__ = [
    "BASELINE_REVISION",
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "differences",
    "head_revision",
    "metadata",
    "upgrade",
]
