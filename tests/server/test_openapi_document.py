"""The OpenAPI document describes every operation's errors as problems, and the
schemathesis run against a live server (slow) finds no 5xx and no response that
contradicts the document."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.app import create_app
from tests.device_agent.live import free_port
from tests.helpers.server_process import ServerProcess
from tests.server.conftest import API_TOKEN, make_settings

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    return create_app(make_settings(tmp_path_factory.mktemp("openapi") / "data")).openapi()


def operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_every_error_response_is_a_problem(document):
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, method, operation in operations(document):
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")):
                assert response["content"] == {"application/problem+json": {"schema": problem}}, (path, method, code)
        codes = set(operation["responses"])
        assert "500" in codes, (path, method)
        if path != "/v1/health":
            assert "401" in codes, (path, method)
        if "{" in path:
            assert "404" in codes, (path, method)
        if "requestBody" in operation:
            assert {"400", "422"} <= codes, (path, method)
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_document_covers_the_whole_service(document):
    paths = set(document["paths"])
    for expected in ("/v1/models", "/v1/models/{model_id}", "/v1/datasets", "/v1/runs", "/v1/runs/{run_id}",
                     "/v1/runs/{run_id}/events", "/v1/runs/{run_id}/events/stream", "/v1/runs/{run_id}/cancel",
                     "/v1/runs/{run_id}/resume", "/v1/runs/{run_id}/artifacts/{name}", "/v1/profiles",
                     "/v1/agents/register", "/v1/health"):
        assert expected in paths, expected
    run_create = document["components"]["schemas"]["RunCreate"]
    assert run_create.get("examples"), "POST /v1/runs has no example body"
    for path, method, operation in operations(document):
        assert operation.get("summary") or operation.get("description"), (path, method)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path):
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a test dependency: pip install -e '.[test]'"
    with ServerProcess(tmp_path / "data", free_port()) as server:
        result = subprocess.run(
            [
                st, "run", f"{server.base_url}/openapi.json",
                "--header", f"Authorization: Bearer {API_TOKEN}",
                "--checks", "all",
                # Referential integrity: a well-formed body naming a model that does not
                # exist is rightly refused (422), which this heuristic calls a failure.
                "--exclude-checks", "positive_data_acceptance",
                # The SSE stream stays open while a run is active; its JSON twin is tested.
                "--exclude-path-regex", "/events/stream$",
                "--max-time", "90", "--workers", "2", "--seed", "1",
            ],  # fmt: skip
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
        )
        server_log = server.log()
    assert result.returncode == 0, result.stdout[-20000:] + "\n--- server log tail ---\n" + server_log[-5000:]
    assert "Traceback" not in server_log, server_log[-5000:]
