"""The runs API on a live server that queues but does not execute runs
(max_concurrent_runs=0): validation, idempotency, listing, cancel/resume/delete rules,
problem bodies. Execution is tested end to end in tests/integration/test_rest_runs.py."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.api.runs import SSE_KEEPALIVE_SECONDS
from tests.server.conftest import LiveServer, make_settings, running_server
from tests.uploads import builders
from tests.uploads.live import client  # noqa: F401  (a fixture: the API token on this module's server)

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_database_url: str) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("runs") / "data", database_url=module_database_url, max_concurrent_runs=0
    )
    with running_server(settings) as live:
        yield live


@pytest.fixture(scope="module")
def model_id(client: httpx.Client) -> str:
    response = client.post("/v1/models", params={"filename": "digits.keras"}, content=builders.digits_model())
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


def create(client: httpx.Client, body: dict, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/runs", json=body, headers=headers)


def assert_problem(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"]
    for word in words:
        assert word in body["detail"], body["detail"]


def test_create_returns_a_queued_run_with_every_default(client, model_id):
    response = create(client, {"model_id": model_id, "budget": 0.5})
    assert response.status_code == 201, response.text
    run = response.json()
    assert response.headers["location"] == f"/v1/runs/{run['id']}"
    assert (run["status"], run["phase"], run["metric"], run["dataset_id"]) == ("queued", "queued", "macs", "digits")
    assert run["request"]["engine"]["init_reduction_ratio"] == 0.025
    assert run["request"]["training"]["short_term_steps"] == 100
    assert client.get(f"/v1/runs/{run['id']}").json() == run
    events = client.get(f"/v1/runs/{run['id']}/events").json()
    assert [(e["seq"], e["type"]) for e in events] == [(1, "created")]
    assert client.get(f"/v1/runs/{run['id']}/iterations").json() == []
    assert client.get(f"/v1/runs/{run['id']}/proposals").json() == []
    assert client.get(f"/v1/runs/{run['id']}/artifacts").json() == []
    assert_problem(client.get(f"/v1/runs/{run['id']}/report"), 409, "no history yet")


def test_idempotency_key_makes_retries_safe(client, model_id):
    body = {"model_id": model_id, "budget": 0.45}
    first = create(client, body, "retry-me")
    again = create(client, body, "retry-me")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert_problem(create(client, {**body, "budget": 0.4}, "retry-me"), 409, "different request body")
    listed = [r["id"] for r in client.get("/v1/runs").json()]
    assert listed.count(first.json()["id"]) == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model_id": "0" * 64, "budget": 0.5}, ["model_id", "POST /v1/models"]),
        ({"budget": 0.5, "dataset_id": "nope"}, ["dataset_id", "POST /v1/datasets"]),
        ({"budget": 0.5, "metric": "latency_ms"}, ["measured on a device"]),
        ({"budget": 0.5, "metric": "latency_ms", "device": "nodevice"}, ["device", "GET /v1/profiles"]),
        ({"budget": 1.5}, ["(0, 1]"]),
        ({"budget": 0.5, "engine": {"saliency": "random"}}, ["engine.saliency"]),
        ({"budget": 0.5, "engine": {"waypoints": [0.75, 0.4]}}, ["waypoint 0.4", "lower the budget"]),
        ({"budget": 0.5, "training": {"short_term_steps": 0}}, ["training.short_term_steps"]),
        ({"budget": 0.5, "unknown_option": 1}, ["unknown_option"]),
    ],
)
def test_bad_requests_are_422_and_create_nothing(client, model_id, body, words):
    before = len(client.get("/v1/runs", params={"limit": 1000}).json())
    assert_problem(create(client, {"model_id": model_id, **body}), 422, *words)
    assert len(client.get("/v1/runs", params={"limit": 1000}).json()) == before


def test_list_filters_by_status_newest_first(client, model_id):
    a = create(client, {"model_id": model_id, "budget": 0.31}).json()
    b = create(client, {"model_id": model_id, "budget": 0.32}).json()
    client.post(f"/v1/runs/{a['id']}/cancel")
    cancelled = [r["id"] for r in client.get("/v1/runs", params={"status": "cancelled"}).json()]
    queued = [r["id"] for r in client.get("/v1/runs", params={"status": "queued"}).json()]
    assert a["id"] in cancelled and a["id"] not in queued and b["id"] in queued
    everything = [r["id"] for r in client.get("/v1/runs").json()]
    assert everything.index(b["id"]) < everything.index(a["id"])
    assert_problem(client.get("/v1/runs", params={"status": "sleeping"}), 422, "status")


def test_cancel_resume_delete_follow_the_run_state(client, model_id):
    run = create(client, {"model_id": model_id, "budget": 0.33}).json()
    path = f"/v1/runs/{run['id']}"
    assert_problem(client.delete(path), 409, "cancel it first")
    assert_problem(client.post(f"{path}/resume"), 409, "still active")
    cancelled = client.post(f"{path}/cancel")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    assert_problem(client.post(f"{path}/cancel"), 409, "only queued or running")
    assert client.post(f"{path}/resume").json()["status"] == "queued"
    client.post(f"{path}/cancel")
    assert client.delete(path).status_code == 204
    assert_problem(client.get(path), 404, "GET /v1/runs")
    assert_problem(client.get(f"{path}/events"), 404)


def test_unknown_runs_and_artifacts_are_404(client, model_id):
    assert_problem(client.get("/v1/runs/doesnotexist"), 404, "doesnotexist")
    run = create(client, {"model_id": model_id, "budget": 0.34}).json()
    for name in ("final.tflite", "state.json", "..%2Fnetadapt.db"):
        assert_problem(client.get(f"/v1/runs/{run['id']}/artifacts/{name}"), 404, "artifacts")
    # A client that normalises '..' away asks for another path, which no route has.
    assert_problem(client.get(f"/v1/runs/{run['id']}/artifacts/../netadapt.db"), 404, "no endpoint")


def test_a_finished_event_stream_replays_and_ends(client, model_id):
    run = create(client, {"model_id": model_id, "budget": 0.35}).json()
    client.post(f"/v1/runs/{run['id']}/cancel")
    with client.stream("GET", f"/v1/runs/{run['id']}/events/stream", params={"after": 1}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    # Only events after seq 1; the stream closed by itself because the run has ended.
    assert "id: 1\n" not in text and "id: 2\nevent: status\n" in text and '"cancelled"' in text
    with client.stream("GET", f"/v1/runs/{run['id']}/events/stream", headers={"Last-Event-ID": "2"}) as response:
        assert "id: 2\n" not in response.read().decode()


def test_requests_without_the_api_token_are_refused(server, model_id):
    response = httpx.post(f"{server.base_url}/v1/runs", json={"model_id": model_id, "budget": 0.5})
    assert_problem(response, 401, "Authorization: Bearer")
    wrong = httpx.get(f"{server.base_url}/v1/runs", headers={"Authorization": "Bearer agent-secret"})
    assert_problem(wrong, 401, "API token")


def test_the_documented_statuses_are_the_stored_ones():
    from service.api.run_schemas import RUN_STATUS_VALUES
    from service.db.runs import RUN_STATUSES

    assert RUN_STATUS_VALUES == RUN_STATUSES


# -- hostile integers and headers (issue 20): a 422 naming the field, and the server keeps
# serving on the same connection ----------------------------------------------------------


# Before the fix some of these answered 200 and streamed a queued run's events forever:
# a read timeout shorter than the stream's keep-alive interval ends such a stream.
NO_ENDLESS_STREAM = httpx.Timeout(30, read=SSE_KEEPALIVE_SECONDS / 2)


def test_an_event_cursor_beyond_any_seq_is_422_not_500(client, model_id):
    run = create(client, {"model_id": model_id, "budget": 0.36}).json()
    for path in (f"/v1/runs/{run['id']}/events", f"/v1/runs/{run['id']}/events/stream"):
        for after in ("9223372036854775808", "9999999999999999999999999", str(2**31)):
            assert_problem(client.get(path, params={"after": after}, timeout=NO_ENDLESS_STREAM), 422, "after")
    # The same connection still serves (a 500 made uvicorn close it).
    assert client.get(f"/v1/runs/{run['id']}/events", params={"after": 2**31 - 1}).json() == []


@pytest.mark.parametrize(
    "last_event_id",
    [b"\xb2", b"9999999999999999999999999", b"-1", b"1.5", b"0x10", b"\xd9\xa3"],  # '²' in latin-1, Arabic-Indic 3
)
def test_a_last_event_id_that_is_not_a_small_decimal_is_422(client, model_id, last_event_id):
    run = create(client, {"model_id": model_id, "budget": 0.37}).json()
    response = client.get(
        f"/v1/runs/{run['id']}/events/stream", headers={"Last-Event-ID": last_event_id}, timeout=NO_ENDLESS_STREAM
    )
    assert_problem(response, 422, "Last-Event-ID")
    assert client.get(f"/v1/runs/{run['id']}").status_code == 200


def test_other_request_integers_are_range_checked(client, model_id):
    run = create(client, {"model_id": model_id, "budget": 0.38}).json()
    assert_problem(client.get(f"/v1/runs/{run['id']}/proposals", params={"iteration": 2**63}), 422, "iteration")
    assert_problem(client.get("/v1/runs", params={"offset": 2**63}), 422, "offset")
