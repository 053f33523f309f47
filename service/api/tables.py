"""Read-only views of the lookup tables: profiles, entries (JSON or CSV), measurements."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Response

from latency_tables import store
from latency_tables.db import utcnow
from latency_tables.estimator import profile_scale
from service.api.deps import ApiClient, ProfileDep, SessionDep, SettingsDep
from service.api.schemas import AgentOut, EntryOut, MeasurementOut, Metric, ProfileDetailOut, ProfileOut
from service.db.agents import list_agents
from service.queue import count_jobs_by_status

router = APIRouter(prefix="/profiles", tags=["tables"], dependencies=[ApiClient])


@router.get("", response_model=list[ProfileOut])
def list_profiles(session: SessionDep) -> list[ProfileOut]:
    return [ProfileOut.model_validate(p) for p in store.list_profiles(session)]


@router.get("/{profile_id}", response_model=ProfileDetailOut)
def get_profile(profile: ProfileDep, session: SessionDep, settings: SettingsDep) -> ProfileDetailOut:
    online_since = utcnow() - timedelta(seconds=settings.offline_after_seconds)
    agents = [
        AgentOut(
            id=a.id,
            name=a.name,
            registered_at=a.registered_at,
            last_heartbeat_at=a.last_heartbeat_at,
            online=a.last_heartbeat_at is not None and a.last_heartbeat_at >= online_since,
            jobs_done=a.jobs_done,
            jobs_failed=a.jobs_failed,
        )
        for a in list_agents(session, profile.id)
    ]
    return ProfileDetailOut(
        **ProfileOut.model_validate(profile).model_dump(),
        entries=store.count_entries(session, profile.id),
        measurements=len(store.list_measurements(session, profile.id)),
        scale=profile_scale(session, profile.id, profile.metric),
        jobs=count_jobs_by_status(session, profile.id),
        agents=agents,
    )


@router.get("/{profile_id}/entries", response_model=list[EntryOut])
def get_entries(
    profile: ProfileDep,
    session: SessionDep,
    metric: Metric | None = None,
    format: Literal["json", "csv"] = "json",
) -> list[EntryOut] | Response:
    if format == "csv":
        frame = store.entries_dataframe(session, profile.id, metric)
        return Response(
            frame.to_csv(index=False),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="entries-{profile.id}.csv"'},
        )
    return [
        EntryOut(
            metric=e.metric,
            signature_digest=e.signature_digest,
            signature=json.loads(e.signature_json),
            median=e.median,
            spread=e.spread,
            n=e.n,
            agent_id=e.agent_id,
            measured_at=e.measured_at,
        )
        for e in store.list_entries(session, profile.id, metric)
    ]


@router.get("/{profile_id}/measurements", response_model=list[MeasurementOut])
def get_measurements(profile: ProfileDep, session: SessionDep, metric: Metric | None = None) -> list[MeasurementOut]:
    return [MeasurementOut.model_validate(m) for m in store.list_measurements(session, profile.id, metric)]
