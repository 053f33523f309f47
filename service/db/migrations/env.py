"""Alembic environment: runs on the connection handed over by service.db.migrations.upgrade
(or, for `alembic`-style offline SQL, on sqlalchemy.url)."""

from __future__ import annotations

from alembic import context

from latency_tables.db import make_engine
from service.db.migrations import metadata
from service.db.migrations.env_options import configure_options

config = context.config
target_metadata = metadata()


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=url is not None and url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as fresh:
            _run(fresh)
    finally:
        engine.dispose()


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, **configure_options(connection))
    with context.begin_transaction():
        context.run_migrations()
    if connection.in_transaction() and config.attributes.get("connection") is None:
        connection.commit()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
