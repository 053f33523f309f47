"""A pipeline written from /openapi.json alone (issue 20): a client generated from the
live server's document by a standard generator (openapi-python-client) builds without
warnings, and drives a real `netadapt serve` on loopback through a whole run: upload,
start, follow the Server-Sent Events as the document describes their framing, read the
final run and download an artifact by the relative URL the document promises.

The run is kept tiny (digits CNN, one iteration of a few steps, one long-term epoch)."""

from __future__ import annotations

import importlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.device_agent.live import free_port
from tests.helpers.run_requests import digits_run
from tests.helpers.server_process import ServerProcess
from tests.server.conftest import API_TOKEN
from tests.uploads import builders

pytestmark = pytest.mark.slow

PACKAGE = "netadapt_generated_client"
TINY_RUN = digits_run(budget=0.9, iterations=1, short_term_steps=5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("generated") / "data", free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def generated(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory):
    """The client package generated from the server's own /openapi.json, imported."""
    out = tmp_path_factory.mktemp("client")
    document = out / "openapi.json"
    document.write_text(httpx.get(f"{server.base_url}/openapi.json").text)
    generator = Path(sys.executable).parent / "openapi-python-client"
    assert generator.exists(), "openapi-python-client is a test dependency: pip install -e '.[test]'"
    done = subprocess.run(
        [str(generator), "generate", "--path", str(document), "--meta", "none", "--output-path", str(out / PACKAGE)],
        capture_output=True, text=True, timeout=300,
        # The generator formats its output with ruff, installed beside it.
        env={**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Warning" not in report and "Error" not in report, report
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))


def sse_messages(response: httpx.Response) -> Iterator[dict[str, str]]:
    """Messages of a text/event-stream as the document describes it: `field: value` lines,
    a blank line ends a message, lines starting with ':' are comments."""
    message: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if message:
                yield message
            message = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            message[field] = value.removeprefix(" ")
    if message:
        yield message


def test_a_client_generated_from_the_document_runs_a_pipeline(server: ServerProcess, generated) -> None:
    api = importlib.import_module(f"{PACKAGE}.api")
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    for name in ("models.upload_model", "runs.create_run", "runs.get_run", "runs.get_artifacts", "runs.download_artifact"):
        importlib.import_module(f"{PACKAGE}.api.{name}")
    client = generated.AuthenticatedClient(base_url=server.base_url, token=API_TOKEN, timeout=httpx.Timeout(120.0))

    upload = api.models.upload_model.sync_detailed(
        client=client,
        body=types.File(payload=io.BytesIO(builders.digits_model()), file_name="digits.keras"),
        filename="pipelines/digits.keras",
    )
    assert upload.status_code == 201, upload.content
    model = upload.parsed
    assert isinstance(model, models.ModelOut) and model.filename == "digits.keras" and model.supported

    created = api.runs.create_run.sync_detailed(
        client=client, body=models.RunCreate.from_dict({"model_id": model.id, **TINY_RUN}), idempotency_key="pipeline-1"
    )
    assert created.status_code == 201, created.content
    run_id = created.parsed.id

    with client.get_httpx_client().stream("GET", f"/v1/runs/{run_id}/events/stream", timeout=None) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        messages = list(sse_messages(stream))
    assert "retry" in messages[0]  # the opening reconnection delay
    events = [models.RunEventOut.from_dict(json.loads(message["data"])) for message in messages[1:]]
    assert [int(message["id"]) for message in messages[1:]] == [event.seq for event in events]
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert [message["event"] for message in messages[1:]] == [event.type_ for event in events]
    last = events[-1]
    assert last.type_ == "status" and last.data["status"] == "finished", last

    run = api.runs.get_run.sync(client=client, run_id=run_id)
    assert run.status == models.RunStatus.FINISHED and run.stop_reason, run
    artifacts = {artifact.name: artifact for artifact in api.runs.get_artifacts.sync(client=client, run_id=run_id)}
    final = artifacts["final.tflite"]
    download = api.runs.download_artifact.sync_detailed(client=client, run_id=run_id, name="final.tflite")
    assert download.status_code == 200
    data = download.parsed.payload.read()
    assert len(data) == final.size_bytes and data[4:8] == b"TFL3"
    # The url is relative to the server's base URL, as documented.
    by_url = httpx.get(urljoin(server.base_url + "/", final.url), headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert by_url.content == data
