"""The run side over a real server: lookups, model jobs, blobs, table views, the client."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

from latency_tables.protocol import RegistrationReply, blob_path, result_path
from service.tables_client import TablesClient, TablesClientError
from tests.server.conftest import API_TOKEN, LiveServer
from tests.server.helpers import API_HEADERS, bearer, conv, device, entries, fake_tflite, lease, lookup, register


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, timeout=15) as http:
        yield http


@pytest.fixture
def tables(live_server: LiveServer) -> Iterator[TablesClient]:
    with TablesClient(live_server.base_url, API_TOKEN) as tables_client:
        yield tables_client


@pytest.fixture
def agent(client: httpx.Client) -> RegistrationReply:
    return register(client, "agent", device())


def measure_all(client: httpx.Client, agent: RegistrationReply, median: float = 1.0) -> list[dict]:
    jobs = lease(client, agent, max_jobs=100)
    for job in jobs:
        response = client.put(
            result_path(job["id"]), json={"median": median, "spread": 0.0, "n": 3}, headers=bearer(agent)
        )
        assert response.status_code == 200
    return jobs


# ---- lookup --------------------------------------------------------------------------


def test_lookup_enqueues_missing_and_merges_repeats(client: httpx.Client, agent: RegistrationReply) -> None:
    first = lookup(client, agent.profile_id, [conv(8), conv(16), conv(8)])
    assert first["entries"] == {} and first["scale"] == 1.0
    assert first["missing"] == [conv(8).digest, conv(16).digest]
    assert first["jobs"].keys() == set(first["missing"])
    again = lookup(client, agent.profile_id, [conv(16), conv(24)])
    assert again["jobs"][conv(16).digest] == first["jobs"][conv(16).digest]

    measure_all(client, agent, median=2.0)
    done = lookup(client, agent.profile_id, [conv(8), conv(16), conv(24)])
    assert done["missing"] == [] and done["jobs"] == {}
    assert done["entries"][conv(24).digest] == {"median": 2.0, "spread": 0.0, "n": 3}


def test_lookup_errors(client: httpx.Client, agent: RegistrationReply) -> None:
    path = f"/v1/profiles/{agent.profile_id}/lookup"
    good = {"metric": "latency_ms", "signatures": [conv(8).to_dict()]}
    cases = [
        ("/v1/profiles/nope/lookup", good, API_HEADERS, 404, "no device profile 'nope'"),
        (path, good, {"Authorization": "Bearer wrong"}, 401, "NETADAPT_API_TOKEN"),
        (path, good, {}, 401, "Authorization"),
        (path, {**good, "metric": "instructions"}, API_HEADERS, 422, "measures 'latency_ms'"),
        (path, {**good, "metric": "parsecs"}, API_HEADERS, 422, "metric"),
        (
            path,
            {"metric": "latency_ms", "signatures": [conv(8).to_dict(), {"op": "CONV_2D"}]},
            API_HEADERS,
            422,
            "signatures[1]",
        ),
        (
            path,
            {"metric": "latency_ms", "signatures": [{"op": "NOT_AN_OP", "inputs": [[1]], "output": [1]}]},
            API_HEADERS,
            422,
            "signatures[0]",
        ),
        (
            path,
            {"metric": "latency_ms", "signatures": [{**conv(8).to_dict(), "kernel": "big"}]},
            API_HEADERS,
            422,
            "signatures[0]",
        ),
        (path, {"metric": "latency_ms", "signatures": "all"}, API_HEADERS, 422, "signatures"),
    ]
    for url, body, headers, status, phrase in cases:
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert phrase in response.json()["detail"], response.json()
    assert lease(client, agent) == []  # nothing was enqueued by the bad requests


def test_unknown_job_status(client: httpx.Client) -> None:
    response = client.get("/v1/jobs/nope", headers=API_HEADERS)
    assert response.status_code == 404 and "nope" in response.json()["detail"]


# ---- model jobs and blobs ------------------------------------------------------------


def test_model_job_round_trip_updates_calibration(
    client: httpx.Client, tables: TablesClient, agent: RegistrationReply
) -> None:
    model = fake_tflite(b"whole model")
    job_id = tables.submit_model(agent.profile_id, "latency_ms", model, raw_sum=5.8, estimated=5.8)
    assert tables.job(job_id)["status"] == "pending"

    [job] = lease(client, agent)
    assert (job["id"], job["kind"], job["model_sha256"]) == (job_id, "model", hashlib.sha256(model).hexdigest())
    download = client.get(blob_path(job["model_sha256"]), headers=bearer(agent))
    assert download.status_code == 200 and download.content == model
    client.put(
        result_path(job_id),
        json={"median": 10.0, "spread": 0.03, "n": 50, "details": {"ref": 1.1}},
        headers=bearer(agent),
    )

    [status] = tables.wait_for_jobs([job_id], timeout=5).values()
    assert status["status"] == "done"
    assert status["result"]["median"] == 10.0 and status["result"]["details"] == {"ref": 1.1}
    [measurement] = client.get(f"/v1/profiles/{agent.profile_id}/measurements", headers=API_HEADERS).json()
    assert (measurement["measured"], measurement["estimated"], measurement["raw_sum"]) == (10.0, 5.8, 5.8)
    assert measurement["relative_error"] == pytest.approx(-0.42)
    assert tables.lookup(agent.profile_id, "latency_ms", [])["scale"] == pytest.approx(10.0 / 5.8)


def test_model_job_errors(client: httpx.Client, agent: RegistrationReply, live_server: LiveServer) -> None:
    path = f"/v1/profiles/{agent.profile_id}/model-jobs"
    cases = [
        (path, {"metric": "latency_ms"}, b"not a model at all", 422, "not a .tflite"),
        (path, {"metric": "latency_ms"}, b"", 422, "empty body"),
        (path, {}, fake_tflite(), 422, "metric"),
        (path, {"metric": "latency_ms", "raw_sum": "lots"}, fake_tflite(), 422, "raw_sum"),
        (path, {"metric": "latency_ms", "raw_sum": -1}, fake_tflite(), 422, "raw_sum"),
        (
            path,
            {"metric": "latency_ms"},
            fake_tflite(b"x" * (live_server.settings.max_upload_bytes + 1)),
            413,
            "NETADAPT_MAX_UPLOAD_BYTES",
        ),
        ("/v1/profiles/nope/model-jobs", {"metric": "latency_ms"}, fake_tflite(), 404, "no device profile"),
    ]
    for url, params, body, status, phrase in cases:
        response = client.post(url, params=params, content=body, headers=API_HEADERS)
        assert response.status_code == status, (params, response.text)
        assert phrase in response.json()["detail"]
    assert lease(client, agent) == []


def test_blob_upload_and_download(client: httpx.Client, agent: RegistrationReply) -> None:
    model = fake_tflite(b"blob")
    sha = hashlib.sha256(model).hexdigest()
    assert client.get(blob_path(sha), headers=API_HEADERS).status_code == 404
    put = client.put(blob_path(sha), content=model, headers=API_HEADERS)
    assert put.json() == {"sha256": sha, "size": len(model)}
    posted = client.post("/v1/blobs", content=model, headers=API_HEADERS)  # idempotent
    assert posted.json()["sha256"] == sha
    assert client.get(blob_path(sha), headers=bearer(agent)).content == model

    other = hashlib.sha256(b"other").hexdigest()
    cases = [
        (client.put(blob_path(other), content=model, headers=API_HEADERS), 422, "not the"),
        (client.put(blob_path(sha), content=model, headers=bearer(agent)), 401, "API token"),
        (client.get(blob_path("ABC"), headers=API_HEADERS), 422, "sha256"),
        (client.get(blob_path(sha)), 401, "Authorization"),
    ]
    for response, status, phrase in cases:
        assert response.status_code == status, response.text
        assert phrase in response.json()["detail"]


# ---- table views ---------------------------------------------------------------------


def test_profiles_entries_and_csv(client: httpx.Client, agent: RegistrationReply) -> None:
    lookup(client, agent.profile_id, [conv(8), conv(16)])
    measure_all(client, agent, median=1.5)
    lookup(client, agent.profile_id, [conv(24)])  # one job left pending

    listed = client.get("/v1/profiles", headers=API_HEADERS).json()
    assert agent.profile_id in {p["id"] for p in listed}
    detail = client.get(f"/v1/profiles/{agent.profile_id}", headers=API_HEADERS).json()
    assert (detail["entries"], detail["measurements"], detail["scale"]) == (2, 0, 1.0)
    assert detail["jobs"] == {"done": 2, "pending": 1}
    [shown] = detail["agents"]
    assert (shown["id"], shown["online"], shown["jobs_done"]) == (agent.agent_id, True, 2)

    as_json = entries(client, agent.profile_id)
    assert {e["signature_digest"] for e in as_json} == {conv(8).digest, conv(16).digest}
    assert as_json[0]["signature"] in (conv(8).to_dict(), conv(16).to_dict())

    csv = client.get(f"/v1/profiles/{agent.profile_id}/entries", params={"format": "csv"}, headers=API_HEADERS)
    assert csv.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(csv.text))
    assert sorted(frame["signature_digest"]) == sorted([conv(8).digest, conv(16).digest])
    assert frame["median"].tolist() == [1.5, 1.5]

    bad = client.get(f"/v1/profiles/{agent.profile_id}/entries", params={"format": "xml"}, headers=API_HEADERS)
    assert bad.status_code == 422 and "format" in bad.json()["detail"]
    assert client.get("/v1/profiles/nope/entries", headers=API_HEADERS).status_code == 404
    assert client.get("/v1/profiles", headers={"Authorization": "Bearer x"}).status_code == 401


# ---- the client ----------------------------------------------------------------------


def test_client_lookup_wait_and_errors(client: httpx.Client, tables: TablesClient, agent: RegistrationReply) -> None:
    reply = tables.lookup(agent.profile_id, "latency_ms", [conv(8), conv(16).to_dict()])
    assert len(reply["missing"]) == 2 and len(reply["jobs"]) == 2
    with pytest.raises(TimeoutError, match="2 of 2 jobs unfinished"):
        tables.wait_for_jobs(list(reply["jobs"].values()), timeout=0.3, poll_seconds=0.1)
    measure_all(client, agent, median=4.0)
    statuses = tables.wait_for_jobs(list(reply["jobs"].values()), timeout=5)
    assert {s["status"] for s in statuses.values()} == {"done"}
    done = tables.lookup(agent.profile_id, "latency_ms", [conv(8), conv(16)])
    assert done["missing"] == [] and done["entries"][conv(8).digest]["median"] == 4.0

    with pytest.raises(TablesClientError, match="no device profile") as error:
        tables.lookup("nope", "latency_ms", [conv(8)])
    assert error.value.status_code == 404
