"""Typed dependencies shared by the routers: settings, session, stores, callers.

Dependencies that do no I/O are `async def`: FastAPI runs every plain `def` dependency in
a worker thread, and a thread hop per dependency per request is measurable CPU and
latency under load (benchmarks/agents_load.py).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from latency_tables.store import DeviceProfile, get_profile
from service.api.errors import api_error, unauthorized
from service.db.agents import AgentIdentity, authenticate_agent
from service.db.file_store import BlobStore
from service.db.session import Database, get_session
from service.queue.signal import QueueSignal
from service.settings import Settings

_bearer = HTTPBearer(auto_error=False)


async def app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def app_database(request: Request) -> Database:
    return request.app.state.database


async def app_blobs(request: Request) -> BlobStore:
    return request.app.state.blobs


async def app_queue_signal(request: Request) -> QueueSignal:
    return request.app.state.queue_signal


async def app_run_events(request: Request) -> QueueSignal:
    return request.app.state.run_events


SettingsDep = Annotated[Settings, Depends(app_settings)]
DatabaseDep = Annotated[Database, Depends(app_database)]
SessionDep = Annotated[Session, Depends(get_session)]
BlobsDep = Annotated[BlobStore, Depends(app_blobs)]
QueueSignalDep = Annotated[QueueSignal, Depends(app_queue_signal)]
RunEventsDep = Annotated[QueueSignal, Depends(app_run_events)]  # wakes event streams


async def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if credentials is None or not credentials.credentials:
        raise unauthorized("missing 'Authorization: Bearer <token>' header")
    return credentials.credentials


BearerToken = Annotated[str, Depends(bearer_token)]


def current_agent(session: SessionDep, token: BearerToken) -> AgentIdentity:
    agent = authenticate_agent(session, token)
    # End the read transaction: queue operations open their own write transactions.
    # (commit, not rollback: rollback would expire loaded objects.)
    session.commit()
    if agent is None:
        raise unauthorized("unknown or outdated agent secret; register the agent again to get a new one")
    return agent


async def api_client(settings: SettingsDep, token: BearerToken) -> None:
    if not hmac.compare_digest(token.encode(), settings.api_token.encode()):
        raise unauthorized("wrong API token; send the server's NETADAPT_API_TOKEN as 'Authorization: Bearer <token>'")


def agent_or_api_client(session: SessionDep, settings: SettingsDep, token: BearerToken) -> None:
    """Readers that both agents and API clients use (model blobs)."""
    if hmac.compare_digest(token.encode(), settings.api_token.encode()):
        return
    agent = authenticate_agent(session, token)
    session.commit()
    if agent is None:
        raise unauthorized("send an agent secret or the API token as 'Authorization: Bearer <token>'")


CurrentAgent = Annotated[AgentIdentity, Depends(current_agent)]
ApiClient = Depends(api_client)
AgentOrApiClient = Depends(agent_or_api_client)


def existing_profile(profile_id: str, session: SessionDep) -> DeviceProfile:
    profile = get_profile(session, profile_id)
    session.commit()
    if profile is None:
        raise api_error(404, f"no device profile {profile_id!r}; GET /v1/profiles lists the known ones")
    return profile


ProfileDep = Annotated[DeviceProfile, Depends(existing_profile)]
