"""The lookup-table store: device profiles, per-layer entries, whole-model measurements.

An entry is one measured layer signature on one device profile in one metric. Entries
are shared across runs, models and users, and never change once written: the first
result for a (profile, metric, signature) wins and later duplicates are dropped, so an
estimate computed yesterday can be reproduced today.

Whole-model measurements keep the estimate that was made before measuring, so the
estimator's error stays visible (and feeds its calibration, see estimator.py).

No FastAPI, no TensorFlow: the run side and tools use this module directly.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from latency_tables.calibration import family_key
from latency_tables.db import Base, UTCDateTime, utcnow, write_transaction
from latency_tables.layer_weights import weight_bytes
from latency_tables.protocol import DeviceDescription
from latency_tables.signature import LayerSignature
from latency_tables.tflite_model import signatures_from_tflite

if TYPE_CHECKING:
    import pandas as pd

# Keep IN (...) lists well under SQLite's bound-parameter limit.
_IN_CHUNK = 500

ENTRY_COLUMNS = (
    "signature_digest",
    "op",
    "dtype",
    "median",
    "spread",
    "n",
    "agent_id",
    "measured_at",
    "signature_json",
)


def new_id() -> str:
    """A short random hex id (64 bits): unique enough, readable in URLs and logs."""
    return secrets.token_hex(8)


class DeviceProfile(Base):
    """What makes two devices' measurements interchangeable (DeviceDescription)."""

    __tablename__ = "device_profiles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    backend: Mapped[str] = mapped_column(String(64))
    cpu_model: Mapped[str] = mapped_column(String(256))
    runtime_version: Mapped[str] = mapped_column(String(128))
    threads: Mapped[int] = mapped_column(Integer)
    delegate: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def description(self) -> DeviceDescription:
        return DeviceDescription(**{f.name: getattr(self, f.name) for f in fields(DeviceDescription)})


class TableEntry(Base):
    """One layer signature measured on one profile, in one metric. Written once."""

    __tablename__ = "table_entries"
    __table_args__ = (UniqueConstraint("profile_id", "metric", "signature_digest", name="uq_entry_signature"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(ForeignKey("device_profiles.id"), index=True)
    metric: Mapped[str] = mapped_column(String(32))
    signature_digest: Mapped[str] = mapped_column(String(64))
    signature_json: Mapped[str] = mapped_column(Text)
    median: Mapped[float] = mapped_column(Float)
    spread: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    agent_id: Mapped[str | None] = mapped_column(String(32))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelMeasurement(Base):
    """A whole model measured on a profile, with the estimate made before measuring."""

    __tablename__ = "model_measurements"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    profile_id: Mapped[str] = mapped_column(ForeignKey("device_profiles.id"), index=True)
    metric: Mapped[str] = mapped_column(String(32))
    model_sha256: Mapped[str] = mapped_column(String(64), index=True)
    measured: Mapped[float] = mapped_column(Float)  # median
    spread: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    estimated: Mapped[float | None] = mapped_column(Float)  # calibrated estimate at the time
    raw_sum: Mapped[float | None] = mapped_column(Float)  # uncalibrated sum of entries
    agent_id: Mapped[str | None] = mapped_column(String(32))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def relative_error(self) -> float | None:
        """estimated / measured - 1: how far off the estimator was for this model."""
        if self.estimated is None or not self.measured:
            return None
        return self.estimated / self.measured - 1.0


class ModelLayers(Base):
    """The layers of a model measured whole: what the calibration fit reads
    (calibration.py), one row per distinct model, written when the model is submitted.

    Layers are kept by digest, op type and weight bytes (in execution order), so the
    fit needs nothing but the table's entries: no .tflite parsing when it runs.
    """

    __tablename__ = "model_layers"

    model_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    family: Mapped[str] = mapped_column(String(32), index=True)  # calibration.family_key
    dtype: Mapped[str] = mapped_column(String(16))  # the dtype most of its layers have
    layers_json: Mapped[str] = mapped_column(Text)  # [[digest, op, weight_bytes], ...]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def layers(self) -> list[tuple[str, str, int]]:
        return [(str(d), str(op), int(w)) for d, op, w in json.loads(self.layers_json)]


class CalibrationRow(NamedTuple):
    """A whole-model measurement together with the layers of the model measured."""

    model_sha256: str
    measured: float
    raw_sum: float | None
    estimated: float | None
    family: str
    dtype: str
    layers: list[tuple[str, str, int]]  # (digest, op, weight_bytes) in execution order


# ---- profiles ------------------------------------------------------------------------


def get_profile(session: Session, profile_id: str) -> DeviceProfile | None:
    return session.get(DeviceProfile, profile_id)


def get_or_create_profile(session: Session, device: DeviceDescription) -> DeviceProfile:
    """The profile for `device`'s key, created on first sight. Flushes, does not commit."""
    key = device.profile_key()
    found = session.scalars(select(DeviceProfile).where(DeviceProfile.key == key)).first()
    if found is not None:
        return found
    profile = DeviceProfile(key=key, **device.to_dict())
    try:
        # A savepoint: if another writer created the same key meanwhile, only this
        # insert is undone, not the caller's transaction.
        with session.begin_nested():
            session.add(profile)
    except IntegrityError:
        return session.scalars(select(DeviceProfile).where(DeviceProfile.key == key)).one()
    return profile


def list_profiles(session: Session) -> list[DeviceProfile]:
    return list(session.scalars(select(DeviceProfile).order_by(DeviceProfile.created_at, DeviceProfile.id)))


# ---- entries -------------------------------------------------------------------------


class SignatureLike(Protocol):
    """Anything with a signature's canonical `key` and its `digest` (LayerSignature, StoredSignature)."""

    @property
    def key(self) -> str: ...

    @property
    def digest(self) -> str: ...


class StoredSignature(NamedTuple):
    """A signature as stored (digest + canonical JSON), written back verbatim.

    Re-parsing stored JSON into a LayerSignature could change its canonical form if the
    signature code evolved; entries must keep the digest they were requested under.
    """

    digest: str
    key: str


def lookup_entries(session: Session, profile_id: str, metric: str, digests: Iterable[str]) -> dict[str, TableEntry]:
    """The entries that exist for `digests` (absent digests are simply not in the dict)."""
    wanted = list(dict.fromkeys(digests))
    found: dict[str, TableEntry] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        rows = session.scalars(
            select(TableEntry).where(
                TableEntry.profile_id == profile_id,
                TableEntry.metric == metric,
                TableEntry.signature_digest.in_(chunk),
            )
        )
        found.update((row.signature_digest, row) for row in rows)
    return found


def insert_new_entries(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the table_entries `rows` (column -> value) whose (profile, metric, signature)
    has no entry yet, in one statement, inside the caller's transaction: the digests this
    call wrote. First result wins, as in `upsert_entry`; a concurrent writer of the same
    entry is not an error (ON CONFLICT DO NOTHING). One statement replaces a lookup, a
    savepoint and an insert: the lookup's `IN` list was a filter over every entry of the
    profile in PostgreSQL's plan (4.3 ms per batch report at 8,000 entries,
    benchmarks/agents_load.py)."""
    if not rows:
        return set()
    connection = session.connection()
    key = ["profile_id", "metric", "signature_digest"]
    statement: PostgresqlInsert | SqliteInsert
    if connection.dialect.name == "postgresql":
        statement = postgresql_insert(TableEntry).on_conflict_do_nothing(index_elements=key)
    elif connection.dialect.name == "sqlite":
        statement = sqlite_insert(TableEntry).on_conflict_do_nothing(index_elements=key)
    else:
        raise NotImplementedError(f"table entries on {connection.dialect.name}: use SQLite or PostgreSQL")
    # The rows as parameters, not in the statement (`.values(rows)`): SQLAlchemy's
    # "insertmanyvalues" still sends one INSERT, but compiles the statement once per
    # process instead of once per call (which was a third of a batch report's CPU).
    return set(connection.scalars(statement.returning(TableEntry.signature_digest), list(rows)))


def upsert_entry(
    session: Session,
    *,
    profile_id: str,
    metric: str,
    signature: SignatureLike,
    median: float,
    spread: float,
    n: int,
    agent_id: str | None = None,
    measured_at: datetime | None = None,
) -> tuple[TableEntry, bool]:
    """Store a measurement unless one exists: (the entry in the table, whether we wrote it).

    First result wins: a duplicate never overwrites, so estimates stay reproducible and
    a late or repeated agent report is harmless (`insert_new_entries`). Does not commit.
    """
    row = entry_row(
        profile_id=profile_id,
        metric=metric,
        signature=signature,
        median=median,
        spread=spread,
        n=n,
        agent_id=agent_id,
        measured_at=measured_at or utcnow(),
    )
    written = signature.digest in insert_new_entries(session, [row])
    return lookup_entries(session, profile_id, metric, [signature.digest])[signature.digest], written


def entry_row(
    *,
    profile_id: str,
    metric: str,
    signature: SignatureLike,
    median: float,
    spread: float,
    n: int,
    agent_id: str | None,
    measured_at: datetime,
) -> dict[str, Any]:
    """A table_entries row as `insert_new_entries` takes it."""
    return {
        "profile_id": profile_id,
        "metric": metric,
        "signature_digest": signature.digest,
        "signature_json": signature.key,
        "median": float(median),
        "spread": float(spread),
        "n": int(n),
        "agent_id": agent_id,
        "measured_at": measured_at,
    }


def list_entries(
    session: Session, profile_id: str, metric: str | None = None, *, limit: int | None = None, offset: int = 0
) -> list[TableEntry]:
    stmt = select(TableEntry).where(TableEntry.profile_id == profile_id)
    if metric is not None:
        stmt = stmt.where(TableEntry.metric == metric)
    stmt = stmt.order_by(TableEntry.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def count_entries(session: Session, profile_id: str, metric: str | None = None) -> int:
    stmt = select(func.count()).select_from(TableEntry).where(TableEntry.profile_id == profile_id)
    if metric is not None:
        stmt = stmt.where(TableEntry.metric == metric)
    return int(session.scalar(stmt) or 0)


def entries_dataframe(session: Session, profile_id: str, metric: str | None = None) -> pd.DataFrame:
    """The profile's entries as a DataFrame (columns ENTRY_COLUMNS plus metric), for CSV export."""
    import pandas as pd  # only exporters need pandas; agents import this package too

    rows: list[dict[str, Any]] = []
    for entry in list_entries(session, profile_id, metric):
        op, dtype = _op_and_dtype(entry.signature_json)
        rows.append(
            {
                "metric": entry.metric,
                "signature_digest": entry.signature_digest,
                "op": op,
                "dtype": dtype,
                "median": entry.median,
                "spread": entry.spread,
                "n": entry.n,
                "agent_id": entry.agent_id,
                "measured_at": entry.measured_at.isoformat(),
                "signature_json": entry.signature_json,
            }
        )
    return pd.DataFrame(rows, columns=["metric", *ENTRY_COLUMNS])


def _op_and_dtype(signature_json: str) -> tuple[str | None, str | None]:
    try:
        data = json.loads(signature_json)
    except ValueError:
        return None, None
    return data.get("op"), data.get("dtype")


# ---- whole-model measurements --------------------------------------------------------


def add_model_measurement(
    session: Session,
    *,
    profile_id: str,
    metric: str,
    model_sha256: str,
    measured: float,
    spread: float,
    n: int,
    estimated: float | None = None,
    raw_sum: float | None = None,
    agent_id: str | None = None,
    measured_at: datetime | None = None,
) -> ModelMeasurement:
    """Record a whole-model measurement. Flushes, does not commit.

    Unlike entries, repeated measurements of one model are all kept: each is a sample
    of the estimator's error at the time it was made.
    """
    row = ModelMeasurement(
        profile_id=profile_id,
        metric=metric,
        model_sha256=model_sha256,
        measured=float(measured),
        spread=float(spread),
        n=int(n),
        estimated=None if estimated is None else float(estimated),
        raw_sum=None if raw_sum is None else float(raw_sum),
        agent_id=agent_id,
        measured_at=measured_at or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def list_measurements(session: Session, profile_id: str, metric: str | None = None) -> list[ModelMeasurement]:
    stmt = select(ModelMeasurement).where(ModelMeasurement.profile_id == profile_id)
    if metric is not None:
        stmt = stmt.where(ModelMeasurement.metric == metric)
    return list(session.scalars(stmt.order_by(ModelMeasurement.measured_at, ModelMeasurement.id)))


def calibration_pairs(session: Session, profile_id: str, metric: str) -> list[tuple[float, float]]:
    """(measured, raw_sum) of every whole-model measurement that has a raw sum."""
    rows = session.execute(
        select(ModelMeasurement.measured, ModelMeasurement.raw_sum).where(
            ModelMeasurement.profile_id == profile_id,
            ModelMeasurement.metric == metric,
            ModelMeasurement.raw_sum.is_not(None),
        )
    )
    return [(float(measured), float(raw_sum)) for measured, raw_sum in rows if raw_sum is not None]


# ---- the layers of measured models (calibration) --------------------------------------


def record_model_layers(session: Session, model_sha256: str, signatures: Sequence[LayerSignature]) -> ModelLayers:
    """Keep the layers of model `model_sha256` (its ops in execution order) unless they are
    kept already; a model's layers never change. Flushes, does not commit."""
    existing = session.get(ModelLayers, model_sha256)
    if existing is not None:
        return existing
    dtypes = Counter(s.dtype for s in signatures)
    row = ModelLayers(
        model_sha256=model_sha256,
        family=family_key(signatures[0].inputs[0] if signatures and signatures[0].inputs else (), [s.op for s in signatures]),
        dtype=dtypes.most_common(1)[0][0] if dtypes else "float32",
        layers_json=json.dumps([[s.digest, s.op, weight_bytes(s)] for s in signatures], separators=(",", ":")),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        kept = session.get(ModelLayers, model_sha256)  # another writer kept the same layers first
        if kept is None:
            raise
        return kept
    return row


def keep_layers_of_tflite(session: Session, model_sha256: str, tflite: bytes) -> ModelLayers | None:
    """`record_model_layers` for a .tflite, in its own write transaction. None when the
    model has ops no signature describes: it is still measured, only not fitted on."""
    try:
        signatures = signatures_from_tflite(tflite)
    except Exception:  # unsupported ops or unreadable bytes: the agent will say which
        return None
    with write_transaction(session):
        return record_model_layers(session, model_sha256, signatures)


def calibration_rows(session: Session, profile_id: str, metric: str) -> list[CalibrationRow]:
    """Every whole-model measurement of the profile+metric whose model's layers are known."""
    rows = session.execute(
        select(
            ModelMeasurement.model_sha256,
            ModelMeasurement.measured,
            ModelMeasurement.raw_sum,
            ModelMeasurement.estimated,
            ModelLayers.family,
            ModelLayers.dtype,
            ModelLayers.layers_json,
        )
        .join(ModelLayers, ModelLayers.model_sha256 == ModelMeasurement.model_sha256)
        .where(ModelMeasurement.profile_id == profile_id, ModelMeasurement.metric == metric)
        .order_by(ModelMeasurement.measured_at, ModelMeasurement.id)
    )
    return [
        CalibrationRow(sha, float(measured), raw_sum, estimated, family, dtype,
                       [(str(d), str(op), int(w)) for d, op, w in json.loads(layers_json)])
        for sha, measured, raw_sum, estimated, family, dtype, layers_json in rows
    ]


def calibration_version(session: Session, profile_id: str, metric: str) -> tuple[Any, ...]:
    """Changes whenever what the profile's calibration is fitted from may have changed
    (measurements, entries and kept layers only ever get added): a cache key."""
    measurements = session.execute(
        select(func.count(), func.max(ModelMeasurement.measured_at)).where(
            ModelMeasurement.profile_id == profile_id, ModelMeasurement.metric == metric
        )
    ).one()
    return (
        int(measurements[0]),
        measurements[1],
        count_entries(session, profile_id, metric),
        int(session.scalar(select(func.count()).select_from(ModelLayers)) or 0),
    )
