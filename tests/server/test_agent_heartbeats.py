"""The device agent's heartbeat thread against a live server: a batch's leases renewed in
one request per tick; a lease another agent took is marked lost, the others renewed."""

from __future__ import annotations

import threading
from datetime import datetime

import httpx
from sqlalchemy import select

from device_agent.runner import HeartbeatThread
from device_agent.server_client import ServerClient, ServerRejected
from latency_tables.protocol import release_path
from service.db.tables import Job
from tests.device_agent.live import wait_until
from tests.server.conftest import AGENT_TOKEN, LiveServer
from tests.server.helpers import conv, device, lease, lookup, register


class CountingClient(ServerClient):
    """The real client, counting which heartbeat requests it sends."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batches: list[list[str]] = []
        self.singles: list[str] = []

    def heartbeat_many(self, job_ids: list[str]) -> dict[str, ServerRejected]:
        self.batches.append(list(job_ids))
        return super().heartbeat_many(job_ids)

    def heartbeat(self, job_id: str) -> None:
        self.singles.append(job_id)
        super().heartbeat(job_id)


def test_one_request_renews_a_batch_and_finds_the_lost_lease(live_server: LiveServer) -> None:
    dev = device()
    client = CountingClient(live_server.base_url, AGENT_TOKEN, "beating", dev, threading.Event())
    try:
        mine = client.register()
        with httpx.Client(base_url=live_server.base_url, timeout=30) as http:
            lookup(http, mine.profile_id, [conv(c) for c in (8, 9, 10)])
            jobs = client.lease(3, 0)
            assert len(jobs) == 3
            # The third job goes to another agent (released, leased again): this agent lost it.
            http.post(release_path(jobs[2].id), headers={"Authorization": f"Bearer {mine.secret}"})
            assert [j["id"] for j in lease(http, register(http, "other", dev))] == [jobs[2].id]

        beating = HeartbeatThread(client, [j.id for j in jobs], interval=0.05)
        beating.start()
        try:
            wait_until(lambda: beating.lost == {jobs[2].id}, 30, "the lost lease to be noticed")
            wait_until(lambda: len(client.batches) >= 2, 30, "a tick after the loss")
        finally:
            beating.stop()
        assert not beating.is_alive()
        assert client.singles == []  # never one request per job
        assert client.batches[0] == [j.id for j in jobs]
        assert client.batches[-1] == [j.id for j in jobs[:2]]  # the lost lease is no longer renewed

        with live_server.session() as session:
            renewed = dict(session.execute(select(Job.id, Job.lease_expires_at).where(Job.id.in_([j.id for j in jobs[:2]]))).all())
        assert all(renewed[j.id] > datetime.fromisoformat(j.lease_expires_at) for j in jobs[:2])
    finally:
        client.close()
