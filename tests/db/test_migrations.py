"""Alembic migrations on SQLite and PostgreSQL: they build exactly the ORM's schema, run
safely from several starting servers at once, and adopt a pre-migration database."""

from __future__ import annotations

import threading
from pprint import pformat

from sqlalchemy import inspect, text

from latency_tables.db import make_engine
from service.db import migrations
from service.db.session import Database


def test_the_models_and_the_migrations_describe_the_same_schema(database_url: str) -> None:
    database = Database.connect(database_url)
    try:
        assert migrations.current_revision(database.engine) == migrations.head_revision()
        diffs = migrations.differences(database.engine)
    finally:
        database.dispose()
    assert diffs == [], (
        "the ORM models and the migrations differ; add a revision for the model change "
        "(python -m service.db.migrations revision -m 'what changed'), review it, and commit "
        f"it with the change:\n{pformat(diffs)}"
    )


def test_servers_starting_together_migrate_once(database_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def connect() -> None:
        try:
            start.wait()
            Database.connect(database_url).dispose()
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=connect) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    engine = make_engine(database_url)
    try:
        assert migrations.current_revision(engine) == migrations.head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        engine.dispose()


def test_a_database_made_before_migrations_is_adopted(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        # What create_all made before migrations existed: the first revision's tables, no history.
        migrations.upgrade(engine, migrations.BASELINE_REVISION)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
            conn.execute(
                text(
                    "INSERT INTO device_profiles (id, key, backend, cpu_model, runtime_version, threads, delegate,"
                    " metric, created_at) VALUES ('p1', 'k', 'b', 'c', 'r', 1, 'd', 'latency_ms', '2026-01-01')"
                )
            )
        assert migrations.current_revision(engine) is None
    finally:
        engine.dispose()
    database = Database.connect(database_url)
    try:
        assert migrations.current_revision(database.engine) == migrations.head_revision()
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM device_profiles")).scalars().all() == ["p1"]
        assert migrations.differences(database.engine) == []
    finally:
        database.dispose()


def test_every_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    from alembic import command

    database = Database.connect(database_url)
    try:
        with database.engine.begin() as conn:
            command.downgrade(migrations.alembic_config(conn), "base")
        assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
        migrations.upgrade(database.engine)
        assert migrations.differences(database.engine) == []
    finally:
        database.dispose()
