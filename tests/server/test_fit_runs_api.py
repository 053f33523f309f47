"""Runs with method 'fit' on a live server that queues but does not execute runs: what a fit
run accepts and refuses (it reads no dataset; its saliency must work without data). A fit
run executing, on a real agent, is tested in tests/integration/test_fit_to_budget.py."""

from __future__ import annotations

import httpx
import pytest

# The same live server as the other runs API tests: it queues runs and executes none.
from tests.server.test_runs_api import client, server  # noqa: F401  (fixtures)
from tests.uploads import builders


@pytest.fixture(scope="module")
def three_class_model(client: httpx.Client) -> str:
    """A model with fewer classes than the built-in digits: a NetAdapt run on digits is
    refused, a fit (which reads no data) is not."""
    from service.zoo import digits_cnn

    body = builders.saved(digits_cnn(num_classes=3))
    response = client.post("/v1/models", params={"filename": "three.keras"}, content=body)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


def test_a_fit_run_is_queued_without_reading_a_dataset(client, three_class_model):
    refused = client.post("/v1/runs", json={"model_id": three_class_model, "budget": 0.5})
    assert refused.status_code == 422 and "classes" in refused.json()["detail"]
    response = client.post("/v1/runs", json={"model_id": three_class_model, "budget": 0.5, "method": "fit"})
    assert response.status_code == 201, response.text
    run = response.json()
    assert (run["status"], run["request"]["method"]) == ("queued", "fit")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"engine": {"saliency": "apoz"}}, ["engine.saliency", "l1 or l2"]),
        ({"metric": "latency_ms"}, ["measured on a device"]),
        ({"metric": "latency_ms", "device": "nodevice"}, ["device", "GET /v1/profiles"]),
        ({"budget": 1.5}, ["(0, 1]"]),
        ({"method": "prune"}, ["method"]),
    ],
)
def test_bad_fit_requests_are_422(client, three_class_model, body, words):
    response = client.post("/v1/runs", json={"model_id": three_class_model, "budget": 0.5, "method": "fit", **body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    for word in words:
        assert word in response.json()["detail"], response.json()["detail"]


def test_the_method_is_in_the_openapi_document(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]["RunCreate"]["properties"]["method"]
    assert schema["enum"] == ["netadapt", "fit"] and schema["default"] == "netadapt"
    assert "channel step" in schema["description"]
