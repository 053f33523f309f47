"""The lookup-table store on SQLite and PostgreSQL: constraints, first-result-wins, lookup, export, pragmas."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from latency_tables import LayerSignature, store
from latency_tables.db import create_all, make_engine, make_session_factory, utcnow, write_transaction
from latency_tables.protocol import DeviceDescription

DEVICE = DeviceDescription(backend="host-latency", cpu_model="test-cpu", runtime_version="ai-edge-litert 2.3.0")


def conv(out_channels: int) -> LayerSignature:
    return LayerSignature(
        op="CONV_2D",
        inputs=[(1, 8, 8, 4)],
        output=(1, 8, 8, out_channels),
        kernel=(3, 3),
        stride=(1, 1),
        padding="SAME",
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'tables.db'}")
    create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as session:
        yield session


def add(session: Session, profile_id: str, signature: LayerSignature, median: float, agent: str = "a1"):
    with write_transaction(session):
        return store.upsert_entry(
            session,
            profile_id=profile_id,
            metric="latency_ms",
            signature=signature,
            median=median,
            spread=0.05,
            n=7,
            agent_id=agent,
        )


def test_sqlite_pragmas_are_on(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_profile_is_created_once_per_key(session: Session) -> None:
    first = store.get_or_create_profile(session, DEVICE)
    session.commit()
    again = store.get_or_create_profile(session, DEVICE)
    other = store.get_or_create_profile(session, DeviceDescription(**{**DEVICE.to_dict(), "threads": 4}))
    session.commit()
    assert again.id == first.id
    assert other.id != first.id
    assert first.key == DEVICE.profile_key()
    assert [p.id for p in store.list_profiles(session)] == [first.id, other.id]


def test_profile_key_is_unique(session: Session) -> None:
    store.get_or_create_profile(session, DEVICE)
    session.commit()
    session.add(
        store.DeviceProfile(
            key=DEVICE.profile_key(),
            backend="x",
            cpu_model="x",
            runtime_version="x",
            threads=1,
            delegate="x",
            metric="latency_ms",
        )
    )
    with pytest.raises(IntegrityError):
        session.commit()


def test_first_result_wins(session: Session) -> None:
    profile = store.get_or_create_profile(session, DEVICE)
    session.commit()
    entry, written = add(session, profile.id, conv(8), 1.5, agent="first")
    assert written and entry.median == 1.5
    again, written_again = add(session, profile.id, conv(8), 9.9, agent="second")
    assert not written_again
    assert (again.id, again.median, again.agent_id) == (entry.id, 1.5, "first")
    assert store.count_entries(session, profile.id) == 1


def test_a_batch_insert_writes_only_new_entries_and_says_which(session: Session) -> None:
    profile = store.get_or_create_profile(session, DEVICE)
    session.commit()
    add(session, profile.id, conv(8), 1.5, agent="first")

    def row(signature: LayerSignature, median: float) -> dict:
        return {
            "profile_id": profile.id,
            "metric": "latency_ms",
            "signature_digest": signature.digest,
            "signature_json": signature.key,
            "median": median,
            "spread": 0.0,
            "n": 3,
            "agent_id": "batch",
            "measured_at": utcnow(),
        }

    with write_transaction(session):
        written = store.insert_new_entries(session, [row(conv(8), 9.9), row(conv(16), 2.0), row(conv(24), 3.0)])
    assert written == {conv(16).digest, conv(24).digest}
    entries = store.lookup_entries(session, profile.id, "latency_ms", [conv(c).digest for c in (8, 16, 24)])
    assert {s: (e.median, e.agent_id) for s, e in entries.items()} == {
        conv(8).digest: (1.5, "first"),  # first result wins
        conv(16).digest: (2.0, "batch"),
        conv(24).digest: (3.0, "batch"),
    }
    session.commit()  # end the lookup's read transaction
    with write_transaction(session):
        assert store.insert_new_entries(session, [row(conv(16), 7.0)]) == set()
        assert store.insert_new_entries(session, []) == set()


def test_entry_unique_constraint_holds_in_the_database(session: Session) -> None:
    profile = store.get_or_create_profile(session, DEVICE)
    session.commit()
    add(session, profile.id, conv(8), 1.5)
    session.add(
        store.TableEntry(
            profile_id=profile.id,
            metric="latency_ms",
            signature_digest=conv(8).digest,
            signature_json=conv(8).key,
            median=2.0,
            spread=0.0,
            n=1,
        )
    )
    with pytest.raises(IntegrityError):
        session.commit()


def test_same_signature_in_another_metric_or_profile_is_a_separate_entry(session: Session) -> None:
    a = store.get_or_create_profile(session, DEVICE)
    b = store.get_or_create_profile(session, DeviceDescription(**{**DEVICE.to_dict(), "cpu_model": "other"}))
    session.commit()
    add(session, a.id, conv(8), 1.0)
    add(session, b.id, conv(8), 2.0)
    with write_transaction(session):
        _, written = store.upsert_entry(
            session, profile_id=a.id, metric="instructions", signature=conv(8), median=1e6, spread=0.0, n=1
        )
    assert written
    assert store.lookup_entries(session, a.id, "latency_ms", [conv(8).digest])[conv(8).digest].median == 1.0
    assert store.lookup_entries(session, b.id, "latency_ms", [conv(8).digest])[conv(8).digest].median == 2.0


def test_lookup_returns_only_present_digests(session: Session) -> None:
    profile = store.get_or_create_profile(session, DEVICE)
    session.commit()
    for channels in (8, 16):
        add(session, profile.id, conv(channels), channels / 8)
    wanted = [conv(8).digest, conv(16).digest, conv(24).digest, conv(8).digest]
    found = store.lookup_entries(session, profile.id, "latency_ms", wanted)
    assert set(found) == {conv(8).digest, conv(16).digest}
    assert found[conv(16).digest].median == 2.0
    assert LayerSignature.from_json(found[conv(16).digest].signature_json) == conv(16)


def test_lookup_handles_more_digests_than_one_sql_statement_takes(session: Session) -> None:
    profile = store.get_or_create_profile(session, DEVICE)
    session.commit()
    add(session, profile.id, conv(8), 1.0)
    wanted = [f"{i:064x}" for i in range(1200)] + [conv(8).digest]
    assert list(store.lookup_entries(session, profile.id, "latency_ms", wanted)) == [conv(8).digest]


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(
        store.TableEntry(
            profile_id="no-such-profile",
            metric="latency_ms",
            signature_digest="d",
            signature_json="{}",
            median=1.0,
            spread=0.0,
            n=1,
        )
    )
    with pytest.raises(IntegrityError, match="(?i)foreign key"):
        session.commit()


def test_csv_export_round_trips_through_pandas(session: Session) -> None:
    profile = store.get_or_create_profile(session, DEVICE)
    session.commit()
    add(session, profile.id, conv(8), 1.25)
    add(session, profile.id, conv(16), 2.5)
    csv = store.entries_dataframe(session, profile.id).to_csv(index=False)
    frame = pd.read_csv(io.StringIO(csv))
    assert list(frame.columns) == ["metric", *store.ENTRY_COLUMNS]
    assert frame["median"].tolist() == [1.25, 2.5]
    assert set(frame["op"]) == {"CONV_2D"}
    assert LayerSignature.from_json(frame["signature_json"][1]) == conv(16)
    assert frame["signature_digest"][0] == conv(8).digest


def test_empty_export_still_has_the_columns(session: Session) -> None:
    profile = store.get_or_create_profile(session, DEVICE)
    session.commit()
    assert list(store.entries_dataframe(session, profile.id).columns) == ["metric", *store.ENTRY_COLUMNS]


def test_model_measurements_keep_every_sample_and_the_estimate(session: Session) -> None:
    profile = store.get_or_create_profile(session, DEVICE)
    session.commit()
    with write_transaction(session):
        for measured in (10.0, 12.0):
            store.add_model_measurement(
                session,
                profile_id=profile.id,
                metric="latency_ms",
                model_sha256="ab" * 32,
                measured=measured,
                spread=0.02,
                n=20,
                estimated=11.0,
                raw_sum=6.0,
            )
        store.add_model_measurement(
            session, profile_id=profile.id, metric="latency_ms", model_sha256="cd" * 32, measured=5.0, spread=0.02, n=20
        )
    rows = store.list_measurements(session, profile.id)
    assert [r.measured for r in rows] == [10.0, 12.0, 5.0]
    assert rows[0].relative_error == pytest.approx(0.1)
    assert rows[2].relative_error is None
    assert store.calibration_pairs(session, profile.id, "latency_ms") == [(10.0, 6.0), (12.0, 6.0)]


def test_datetimes_come_back_timezone_aware(session: Session) -> None:
    profile = store.get_or_create_profile(session, DEVICE)
    session.commit()
    add(session, profile.id, conv(8), 1.0)
    session.expire_all()
    entry = store.list_entries(session, profile.id)[0]
    assert entry.measured_at.utcoffset() is not None


def test_write_transaction_refuses_an_open_transaction(session: Session) -> None:
    session.execute(text("SELECT 1"))
    with pytest.raises(RuntimeError, match="outside any transaction"), write_transaction(session):
        pass
