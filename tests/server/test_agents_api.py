"""The agent protocol over a real uvicorn server: happy paths and every bad input."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from latency_tables.db import utcnow
from latency_tables.protocol import (
    DeviceDescription,
    LeaseReply,
    heartbeats_path,
    RegistrationReply,
    heartbeat_path,
    lease_path,
    register_path,
    release_path,
    result_path,
    results_path,
)
from service.queue import requeue_expired
from tests.server.conftest import AGENT_TOKEN, LiveServer
from tests.server.helpers import API_HEADERS, bearer, conv, device, entries, lease, lookup, register

GOOD = {"median": 2.5, "spread": 0.04, "n": 15}


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, timeout=15) as http:
        yield http


@pytest.fixture
def dev() -> DeviceDescription:
    return device()


@pytest.fixture
def agent(client: httpx.Client, dev: DeviceDescription) -> RegistrationReply:
    return register(client, "agent-a", dev)


def leased_job(client: httpx.Client, agent: RegistrationReply, channels: int = 8) -> dict:
    lookup(client, agent.profile_id, [conv(channels)])
    [job] = lease(client, agent)
    return job


def expire_all_leases(live_server: LiveServer) -> None:
    """Expire leases the way the server's sweep would, one hour from now (no sleeping)."""
    with live_server.session() as session:
        requeue_expired(session, utcnow() + timedelta(hours=1))


def assert_still_serving(client: httpx.Client, agent: RegistrationReply) -> None:
    assert client.post(lease_path(agent.agent_id), json={}, headers=bearer(agent)).status_code == 200


# ---- happy paths -------------------------------------------------------------------


def test_register_and_register_again(client: httpx.Client, agent: RegistrationReply, dev: DeviceDescription) -> None:
    assert agent.lease_seconds == 30 and agent.heartbeat_seconds == 10
    again = register(client, "agent-a", dev)
    assert (again.agent_id, again.profile_id) == (agent.agent_id, agent.profile_id)
    assert again.secret != agent.secret
    # the old secret is gone
    response = client.post(lease_path(agent.agent_id), json={}, headers=bearer(agent))
    assert response.status_code == 401
    assert register(client, "agent-b", dev).agent_id != agent.agent_id


def test_register_with_a_wrong_token_is_refused(client: httpx.Client, dev: DeviceDescription) -> None:
    response = client.post(register_path(), json={"token": "nope", "name": "x", "device": dev.to_dict()})
    assert response.status_code == 401
    assert "NETADAPT_AGENT_TOKEN" in response.json()["detail"]
    bad_device = {**dev.to_dict(), "metric": "furlongs"}
    response = client.post(register_path(), json={"token": AGENT_TOKEN, "name": "x", "device": bad_device})
    assert response.status_code == 422
    assert "device.metric" in response.json()["detail"]


def test_lease_returns_at_once_when_a_job_exists(client: httpx.Client, agent: RegistrationReply) -> None:
    reply = lookup(client, agent.profile_id, [conv(8), conv(16)])
    assert sorted(reply["missing"]) == sorted([conv(8).digest, conv(16).digest])
    started = time.monotonic()
    response = client.post(lease_path(agent.agent_id), json={"wait_seconds": 10, "max_jobs": 5}, headers=bearer(agent))
    assert time.monotonic() - started < 2
    jobs = LeaseReply.from_dict(response.json()).jobs
    assert {j.id for j in jobs} == set(reply["jobs"].values())
    job = next(j for j in jobs if j.signature["output"][-1] == 8)
    assert (job.kind, job.metric, job.attempt, job.dtype) == ("layer", "latency_ms", 1, "float32")
    assert job.signature == conv(8).to_dict()


def test_lease_waits_then_returns_empty(client: httpx.Client, agent: RegistrationReply) -> None:
    started = time.monotonic()
    assert lease(client, agent, wait=0.5) == []
    assert 0.45 <= time.monotonic() - started < 3


def test_waiting_lease_wakes_on_enqueue(
    client: httpx.Client, agent: RegistrationReply, live_server: LiveServer
) -> None:
    got: list = []
    waiting = threading.Thread(target=lambda: got.extend(lease(httpx.Client(base_url=live_server.base_url), agent, 4)))
    started = time.monotonic()
    waiting.start()
    time.sleep(0.2)  # let the lease start waiting; correctness does not depend on it
    lookup(client, agent.profile_id, [conv(8)])
    waiting.join(timeout=10)
    assert len(got) == 1
    assert time.monotonic() - started < 3


def test_abandoned_long_poll_leases_nothing(
    client: httpx.Client, agent: RegistrationReply, live_server: LiveServer
) -> None:
    with httpx.Client(base_url=live_server.base_url, timeout=0.3) as impatient, pytest.raises(httpx.ReadTimeout):
        impatient.post(lease_path(agent.agent_id), json={"wait_seconds": 5}, headers=bearer(agent))
    job_id = lookup(client, agent.profile_id, [conv(8)])["jobs"][conv(8).digest]
    time.sleep(0.5)  # a negative check: give the abandoned poll time to (wrongly) claim it
    status = client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {live_server.settings.api_token}"})
    assert status.json()["status"] == "pending"
    assert [j["id"] for j in lease(client, agent)] == [job_id]


def test_heartbeat_extends_the_lease(client: httpx.Client, agent: RegistrationReply) -> None:
    job = leased_job(client, agent)
    time.sleep(0.01)  # timestamps must differ
    response = client.post(heartbeat_path(job["id"]), headers=bearer(agent))
    assert response.status_code == 200, response.text
    assert response.json()["lease_expires_at"] > job["lease_expires_at"]


def test_result_writes_one_entry_and_duplicates_change_nothing(client: httpx.Client, agent: RegistrationReply) -> None:
    job = leased_job(client, agent)
    response = client.put(result_path(job["id"]), json=GOOD, headers=bearer(agent))
    assert response.json() == {"job_id": job["id"], "status": "done", "accepted": True, "conflict": False}
    [entry] = entries(client, agent.profile_id)
    assert (entry["signature_digest"], entry["median"], entry["n"], entry["agent_id"]) == (
        conv(8).digest,
        2.5,
        15,
        agent.agent_id,
    )
    assert lookup(client, agent.profile_id, [conv(8)])["entries"] == {
        conv(8).digest: {"median": 2.5, "spread": 0.04, "n": 15}
    }

    duplicate = client.put(result_path(job["id"]), json=GOOD, headers=bearer(agent))
    assert duplicate.status_code == 200
    assert (duplicate.json()["accepted"], duplicate.json()["conflict"]) == (False, False)
    different = client.put(result_path(job["id"]), json={**GOOD, "median": 9.0}, headers=bearer(agent))
    assert different.status_code == 200
    assert (different.json()["accepted"], different.json()["conflict"]) == (False, True)
    assert entries(client, agent.profile_id) == [entry]


def test_release_gives_the_job_back(client: httpx.Client, agent: RegistrationReply, dev: DeviceDescription) -> None:
    job = leased_job(client, agent)
    response = client.post(release_path(job["id"]), headers=bearer(agent))
    assert response.json() == {"job_id": job["id"], "status": "pending", "released": True}
    other = register(client, "agent-b", dev)
    [again] = lease(client, other)
    assert (again["id"], again["attempt"]) == (job["id"], 1)


def test_late_result_after_expiry_is_accepted_once(
    client: httpx.Client, agent: RegistrationReply, dev: DeviceDescription, live_server: LiveServer
) -> None:
    job = leased_job(client, agent)
    expire_all_leases(live_server)
    other = register(client, "agent-b", dev)
    [again] = lease(client, other)
    assert (again["id"], again["attempt"]) == (job["id"], 2)
    late = client.put(result_path(job["id"]), json=GOOD, headers=bearer(agent))
    assert late.status_code == 200 and late.json()["accepted"] is True
    second = client.put(result_path(job["id"]), json={**GOOD, "median": 3.0}, headers=bearer(other))
    assert second.status_code == 200 and second.json()["conflict"] is True
    assert [e["median"] for e in entries(client, agent.profile_id)] == [2.5]


def test_a_lease_of_eight_reported_in_one_request(
    client: httpx.Client, agent: RegistrationReply, dev: DeviceDescription
) -> None:
    lookup(client, agent.profile_id, [conv(c) for c in range(1, 11)])
    jobs = lease(client, agent, max_jobs=8)
    assert len(jobs) == 8
    other = register(client, "agent-b", dev)
    [foreign] = lease(client, other, max_jobs=1)
    body = {
        "results": [
            *({"job_id": job["id"], **GOOD, "median": float(i + 1)} for i, job in enumerate(jobs)),
            {"job_id": "nope", **GOOD},
            {"job_id": foreign["id"], **GOOD},
        ]
    }
    response = client.post(results_path(agent.agent_id), json=body, headers=bearer(agent))
    assert response.status_code == 200, response.text
    replies = response.json()["results"]
    assert [r["job_id"] for r in replies] == [item["job_id"] for item in body["results"]]
    assert all((r["status"], r["accepted"], r["error"]) == ("done", True, None) for r in replies[:8])
    assert replies[8]["error"]["status"] == 404 and "no job 'nope'" in replies[8]["error"]["detail"]
    assert replies[9]["error"]["status"] == 409 and "never leased to agent" in replies[9]["error"]["detail"]
    assert sorted(e["median"] for e in entries(client, agent.profile_id)) == [float(i) for i in range(1, 9)]

    again = client.post(results_path(agent.agent_id), json=body, headers=bearer(agent))  # a retried request
    assert [(r["accepted"], r["conflict"]) for r in again.json()["results"][:8]] == [(False, False)] * 8
    assert len(entries(client, agent.profile_id)) == 8
    own = client.post(results_path(other.agent_id), json={"results": [{"job_id": foreign["id"], **GOOD}]}, headers=bearer(other))
    assert own.json()["results"][0]["accepted"] is True  # a's refused report left b's job alone


def test_a_report_leases_the_next_batch_in_the_same_request(
    client: httpx.Client, agent: RegistrationReply, dev: DeviceDescription
) -> None:
    lookup(client, agent.profile_id, [conv(c) for c in range(1, 12)])
    first = lease(client, agent, max_jobs=8)
    body = {"results": [{"job_id": job["id"], **GOOD} for job in first], "lease": {"max_jobs": 8}}
    response = client.post(results_path(agent.agent_id), json=body, headers=bearer(agent))
    assert response.status_code == 200, response.text
    reply = response.json()
    assert all(r["accepted"] for r in reply["results"])
    # The 3 jobs left, leased to this agent; none of the reported ones again.
    following = reply["jobs"]
    assert len(following) == 3 and not {j["id"] for j in following} & {j["id"] for j in first}
    assert all(j["lease_expires_at"] for j in following)
    other = register(client, "agent-b", dev)
    assert lease(client, other, max_jobs=8) == []  # they are not claimable by anyone else
    last = {"results": [{"job_id": job["id"], **GOOD} for job in following], "lease": {"max_jobs": 8}}
    drained = client.post(results_path(agent.agent_id), json=last, headers=bearer(agent)).json()
    assert drained["jobs"] == [] and all(r["accepted"] for r in drained["results"])  # no long poll
    assert len(entries(client, agent.profile_id)) == 11
    # Without `lease` the reply leases nothing (and says so with an empty list).
    lookup(client, agent.profile_id, [conv(40)])
    [job] = lease(client, agent)
    plain = client.post(results_path(agent.agent_id), json={"results": [{"job_id": job["id"], **GOOD}]}, headers=bearer(agent))
    assert plain.json()["jobs"] == []


# ---- bad input: each a 4xx with a message, nothing written, server still serving ----


def test_unknown_job(client: httpx.Client, agent: RegistrationReply) -> None:
    for response in (
        client.post(heartbeat_path("nope"), headers=bearer(agent)),
        client.put(result_path("nope"), json=GOOD, headers=bearer(agent)),
        client.post(release_path("nope"), headers=bearer(agent)),
    ):
        assert response.status_code == 404
        assert "no job 'nope'" in response.json()["detail"]
    assert entries(client, agent.profile_id) == []
    assert_still_serving(client, agent)


def test_expired_lease(client: httpx.Client, agent: RegistrationReply, live_server: LiveServer) -> None:
    job = leased_job(client, agent)
    expire_all_leases(live_server)
    response = client.post(heartbeat_path(job["id"]), headers=bearer(agent))
    assert response.status_code == 409
    assert response.json()["detail"].startswith("lease expired; lease the job again")
    # releasing an expired lease is a harmless no-op
    released = client.post(release_path(job["id"]), headers=bearer(agent))
    assert released.status_code == 200 and released.json()["released"] is False
    assert entries(client, agent.profile_id) == []
    [again] = lease(client, agent)  # leasing again works, as the message says
    assert again["attempt"] == 2
    assert client.post(heartbeat_path(job["id"]), headers=bearer(agent)).status_code == 200


def test_expired_lease_with_tiny_lease_seconds(tmp_path, database_url: str) -> None:
    from tests.server.conftest import make_settings, running_server

    settings = make_settings(
        tmp_path / "data", database_url=database_url, lease_seconds=0.05, requeue_interval_seconds=0.1
    )
    with running_server(settings) as server, httpx.Client(base_url=server.base_url) as http:
        agent = register(http, "a", device())
        job = leased_job(http, agent)
        time.sleep(0.1)  # the lease really runs out: that is what is under test
        response = http.post(heartbeat_path(job["id"]), headers=bearer(agent))
        assert response.status_code == 409
        assert "lease expired; lease the job again" in response.json()["detail"]
        # the server's background sweep requeues it without any agent asking
        deadline = time.monotonic() + 5
        while (status := http.get(f"/v1/jobs/{job['id']}", headers=API_HEADERS).json())["status"] != "pending":
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        assert status["attempts"] == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer abc.def"},
        {"Authorization": "Basic Zm9vOmJhcg=="},
    ],
    ids=["missing", "garbage", "unknown-agent", "not-bearer"],
)
def test_wrong_secret(client: httpx.Client, agent: RegistrationReply, headers: dict) -> None:
    job = leased_job(client, agent)
    forged = {"Authorization": f"Bearer {agent.agent_id}.forged"}
    for auth in (headers, forged):
        for response in (
            client.post(lease_path(agent.agent_id), json={}, headers=auth),
            client.post(heartbeat_path(job["id"]), headers=auth),
            client.put(result_path(job["id"]), json=GOOD, headers=auth),
            client.post(release_path(job["id"]), headers=auth),
        ):
            assert response.status_code == 401, response.text
            assert response.json()["detail"]
            assert response.headers["www-authenticate"] == "Bearer"
    assert entries(client, agent.profile_id) == []
    assert client.post(heartbeat_path(job["id"]), headers=bearer(agent)).status_code == 200


def test_lease_for_another_agent_id(client: httpx.Client, agent: RegistrationReply, dev: DeviceDescription) -> None:
    other = register(client, "agent-b", dev)
    response = client.post(lease_path(other.agent_id), json={}, headers=bearer(agent))
    assert response.status_code == 403
    assert agent.agent_id in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"median": "fast", "n": 3}, "median"),
        ({"median": -1.0, "n": 3}, "median"),
        ({"median": 1.0, "n": 0}, "n"),
        ({"median": 1.0, "n": 2**31}, "n"),  # past an INTEGER column on PostgreSQL
        ({"median": 1.0, "n": 2**63}, "n"),  # past one on SQLite
        ({"median": 1.0, "n": 3, "spread": -0.1}, "spread"),
        ({"median": 1.0}, "n"),
        ({}, "median"),
        ({"median": 1.0, "n": 3, "details": "x"}, "details"),
        ([1, 2], "body"),
    ],
)
def test_malformed_result(client: httpx.Client, agent: RegistrationReply, body, field: str) -> None:
    job = leased_job(client, agent)
    response = client.put(result_path(job["id"]), json=body, headers=bearer(agent))
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert entries(client, agent.profile_id) == []
    # the job is still leased to the agent and can be finished properly
    assert client.put(result_path(job["id"]), json=GOOD, headers=bearer(agent)).json()["accepted"] is True


def test_result_that_is_not_json(client: httpx.Client, agent: RegistrationReply) -> None:
    job = leased_job(client, agent)
    response = client.put(
        result_path(job["id"]), content=b"{median: 1", headers={**bearer(agent), "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]
    assert entries(client, agent.profile_id) == []


def test_malformed_lease_request(client: httpx.Client, agent: RegistrationReply) -> None:
    for body in ({"max_jobs": 0}, {"wait_seconds": -1}, {"wait_seconds": "soon"}):
        response = client.post(lease_path(agent.agent_id), json=body, headers=bearer(agent))
        assert response.status_code == 422
        assert next(iter(body)) in response.json()["detail"]


def test_result_for_a_job_of_another_agent(
    client: httpx.Client, agent: RegistrationReply, dev: DeviceDescription
) -> None:
    job = leased_job(client, agent)
    same_profile = register(client, "agent-b", dev)
    elsewhere = register(client, "agent-c", device())
    for other, phrase in ((same_profile, "never leased to agent"), (elsewhere, "measures device profile")):
        for response in (
            client.put(result_path(job["id"]), json=GOOD, headers=bearer(other)),
            client.post(heartbeat_path(job["id"]), headers=bearer(other)),
            client.post(release_path(job["id"]), headers=bearer(other)),
        ):
            assert response.status_code == 409, response.text
            assert phrase in response.json()["detail"]
    assert entries(client, agent.profile_id) == []
    assert client.put(result_path(job["id"]), json=GOOD, headers=bearer(agent)).json()["accepted"] is True
    assert len(entries(client, agent.profile_id)) == 1
    assert_still_serving(client, agent)


def test_heartbeat_on_a_finished_job(client: httpx.Client, agent: RegistrationReply) -> None:
    job = leased_job(client, agent)
    client.put(result_path(job["id"]), json=GOOD, headers=bearer(agent))
    response = client.post(heartbeat_path(job["id"]), headers=bearer(agent))
    assert response.status_code == 409
    assert "already done" in response.json()["detail"]


def test_error_result_fails_the_job(client: httpx.Client, agent: RegistrationReply, live_server: LiveServer) -> None:
    job = leased_job(client, agent)
    response = client.put(result_path(job["id"]), json={"error": "op not buildable"}, headers=bearer(agent))
    assert response.json()["status"] == "failed"
    status = client.get(f"/v1/jobs/{job['id']}", headers={"Authorization": f"Bearer {live_server.settings.api_token}"})
    assert "op not buildable" in status.json()["failure_reason"]
    assert entries(client, agent.profile_id) == []


def test_batch_report_for_another_agent_or_malformed(
    client: httpx.Client, agent: RegistrationReply, dev: DeviceDescription
) -> None:
    job = leased_job(client, agent)
    other = register(client, "agent-b", dev)
    body = {"results": [{"job_id": job["id"], **GOOD}]}
    wrong_path = client.post(results_path(other.agent_id), json=body, headers=bearer(agent))
    assert wrong_path.status_code == 403 and f"belongs to agent {agent.agent_id}" in wrong_path.json()["detail"]
    empty = client.post(results_path(agent.agent_id), json={"results": []}, headers=bearer(agent))
    assert empty.status_code == 422 and "results" in empty.json()["detail"]
    no_numbers = client.post(results_path(agent.agent_id), json={"results": [{"job_id": job["id"]}]}, headers=bearer(agent))
    assert no_numbers.status_code == 422 and "median" in no_numbers.json()["detail"]
    for bad_lease in ({"max_jobs": 0}, {"max_jobs": "eight"}, 8):
        refused = client.post(results_path(agent.agent_id), json={**body, "lease": bad_lease}, headers=bearer(agent))
        assert refused.status_code == 422 and "lease" in refused.json()["detail"], refused.text
    assert entries(client, agent.profile_id) == []
    assert_still_serving(client, agent)


def test_a_batch_heartbeat_extends_a_lease_and_says_which_are_lost(
    client: httpx.Client, agent: RegistrationReply, dev: DeviceDescription
) -> None:
    lookup(client, agent.profile_id, [conv(8), conv(9)])
    first, second = lease(client, agent, max_jobs=2)
    client.post(release_path(second["id"]), headers=bearer(agent))
    other = register(client, "agent-b", dev)
    assert [j["id"] for j in lease(client, other)] == [second["id"]]

    body = {"job_ids": [first["id"], second["id"], "nope"]}
    response = client.post(heartbeats_path(agent.agent_id), json=body, headers=bearer(agent))
    assert response.status_code == 200, response.text
    kept, lost, unknown = response.json()["jobs"]
    assert kept["job_id"] == first["id"] and kept["error"] is None
    assert kept["lease_expires_at"] >= first["lease_expires_at"]
    assert (lost["lease_expires_at"], lost["error"]["status"]) == (None, 409)
    assert "lease expired" in lost["error"]["detail"]
    assert unknown["error"]["status"] == 404

    wrong = client.post(heartbeats_path(other.agent_id), json=body, headers=bearer(agent))
    assert wrong.status_code == 403
    empty = client.post(heartbeats_path(agent.agent_id), json={"job_ids": []}, headers=bearer(agent))
    assert empty.status_code == 422 and "job_ids" in empty.json()["detail"]
    assert_still_serving(client, agent)
