"""Agent registration and secret checks.

A secret is "<agent id>.<random>": the id part tells us which agent's hash to compare
against (no secret-indexed lookup needed), so a late result can be attributed to its
agent even when that agent no longer holds the job's lease. Only the sha256 of the
secret is stored; comparisons use hmac.compare_digest.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from latency_tables.db import utcnow, write_transaction
from latency_tables.protocol import DeviceDescription
from latency_tables.store import DeviceProfile, get_or_create_profile
from service.db.tables import Agent


@dataclass(frozen=True)
class AgentIdentity:
    """The authenticated caller: plain values, safe to use after the session closed."""

    id: str
    name: str
    profile_id: str


@dataclass(frozen=True)
class Registered:
    agent: AgentIdentity
    secret: str
    profile: DeviceProfile


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def register_agent(session: Session, name: str, device: DeviceDescription) -> Registered:
    """Register `name` on `device`'s profile, or re-register it: same id, new secret."""
    try:
        return _register(session, name, device)
    except IntegrityError:
        # PostgreSQL: the same name registered concurrently won the insert; now it is
        # there, this is a re-registration.
        return _register(session, name, device)


def _register(session: Session, name: str, device: DeviceDescription) -> Registered:
    with write_transaction(session):
        profile = get_or_create_profile(session, device)
        agent = session.scalars(select(Agent).where(Agent.profile_id == profile.id, Agent.name == name)).first()
        if agent is None:
            agent = Agent(name=name, profile_id=profile.id, secret_hash="")
            session.add(agent)
            session.flush()  # assigns the id the secret embeds
        secret = f"{agent.id}.{secrets.token_urlsafe(32)}"
        agent.secret_hash = hash_secret(secret)
        agent.last_heartbeat_at = utcnow()
    return Registered(AgentIdentity(agent.id, agent.name, agent.profile_id), secret, profile)


def authenticate_agent(session: Session, secret: str) -> AgentIdentity | None:
    """The agent whose secret this is, or None. Reads only."""
    agent_id, dot, _ = secret.partition(".")
    if not dot or not agent_id:
        return None
    agent = session.get(Agent, agent_id)
    if agent is None or not hmac.compare_digest(hash_secret(secret), agent.secret_hash):
        return None
    return AgentIdentity(agent.id, agent.name, agent.profile_id)


def mark_seen(session: Session, agent_id: str, now: datetime | None = None) -> None:
    """Note that the agent is alive (inside the caller's write transaction)."""
    note_agent(session, agent_id, seen_at=now or utcnow())


def note_agent(
    session: Session, agent_id: str, *, seen_at: datetime | None = None, jobs_done: int = 0, jobs_failed: int = 0
) -> None:
    """Note the agent's last contact and add to its job counts, in one UPDATE and no read
    (it runs on every lease and report), counting in the database itself: two reports of
    one agent in parallel transactions must not overwrite each other's increment."""
    table = Agent.__table__.c
    values: dict[Any, Any] = {}
    if seen_at is not None:
        values[table.last_heartbeat_at] = seen_at
    if jobs_done:
        values[table.jobs_done] = table.jobs_done + jobs_done
    if jobs_failed:
        values[table.jobs_failed] = table.jobs_failed + jobs_failed
    if values:
        # On the Core connection: the ORM's bulk-update path costs more than the UPDATE.
        session.connection().execute(update(Agent.__table__).where(table.id == agent_id).values(values))


def list_agents(session: Session, profile_id: str) -> list[Agent]:
    return list(session.scalars(select(Agent).where(Agent.profile_id == profile_id).order_by(Agent.registered_at)))
