"""POST/GET /v1/models on a live server: upload, analysis, idempotent repeat, and every
kind of bad upload refused with a problem, leaving no file and no row behind."""

from __future__ import annotations

import hashlib
import io

import h5py
import httpx

from service.uploads import catalog
from tests.server.conftest import LiveServer
from tests.uploads import builders
from tests.uploads.live import PROBLEM, UNCOMPRESSED_LIMIT, assert_problem, client, server, stored_state  # noqa: F401


def test_upload_analyse_and_upload_again(client: httpx.Client, server: LiveServer) -> None:
    data = builders.digits_model()
    sha = hashlib.sha256(data).hexdigest()
    created = client.post("/v1/models", params={"filename": "digits.keras"}, content=data)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/v1/models/{sha}"
    model = created.json()
    assert (model["id"], model["filename"], model["size_bytes"]) == (sha, "digits.keras", len(data))
    assert model["input_shape"] == [8, 8, 1] and model["num_classes"] == 10
    assert model["supported"] is True and model["unsupported"] == []
    assert model["macs"] > 0 and model["params"] > 0
    assert {"name": "conv1", "class_name": "Conv2D", "output_channels": 32} in model["layers"]
    assert any(group["prunable"] and "conv1" in group["members"] for group in model["groups"])

    stored = catalog.model_keras_path(server.settings.data_dir, sha)
    assert stored.read_bytes() == data
    assert not any((server.settings.data_dir / catalog.INCOMING_DIR).iterdir())

    again = client.post("/v1/models", content=data)
    assert again.status_code == 200 and again.json()["id"] == sha
    assert client.get(f"/v1/models/{sha}").json() == model
    listed = {entry["id"]: entry for entry in client.get("/v1/models").json()}
    assert listed[sha]["macs"] == model["macs"] and "layers" not in listed[sha]


def test_the_stored_file_is_what_runs_load(client: httpx.Client, server: LiveServer) -> None:
    import keras

    sha = client.post("/v1/models", content=builders.digits_model()).json()["id"]
    with server.session() as session:
        record = catalog.find_model(session, sha)
    assert record is not None
    model = keras.saving.load_model(catalog.model_keras_path(server.settings.data_dir, sha), safe_mode=True)
    assert model.count_params() == catalog.model_analysis(record)["params"]


def hdf5_model() -> bytes:
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.attrs["keras_version"] = "2.15.0"
        h5.create_dataset("model_weights/conv1/kernel", data=[1.0, 2.0])
    return buffer.getvalue()


def bad_model_uploads() -> list[tuple[str, dict[str, str], object, int, str]]:
    digits = builders.digits_model()
    too_big = b"x" * (1024 * 1024 + 1)
    return [
        ("not-a-zip", {}, b"definitely not a model", 415, "not a zip archive"),
        ("zip-bomb", {}, builders.with_members(digits, compress=True, **{"model.weights.h5": bytes(2 * UNCOMPRESSED_LIMIT)}), 413,
         "NETADAPT_MAX_MODEL_UNCOMPRESSED_BYTES"),
        ("path-traversal", {}, builders.with_members(digits, **{"../../escape.txt": b"x"}), 422, "path traversal"),
        ("lambda-layer", {}, builders.lambda_model(), 422, "layer 'double' is a Lambda layer"),
        ("custom-object", {}, builders.custom_object_model(), 422, "custom object 'tests_uploads>Scale'"),
        ("tfsm-layer", {}, builders.tfsm_layer_config(digits), 422, "TFSMLayer"),
        ("h5-content", {}, hdf5_model(), 415, "legacy HDF5 (.h5) model"),
        ("h5-filename", {"filename": "model.h5"}, digits, 415, "legacy HDF5 model"),
        ("other-filename", {"filename": "model.tflite"}, digits, 415, "not a .keras file"),
        ("oversized", {}, too_big, 413, "NETADAPT_MAX_UPLOAD_BYTES"),
        ("oversized-chunked", {}, iter([too_big[:600_000], too_big[600_000:]]), 413, "NETADAPT_MAX_UPLOAD_BYTES"),
        ("empty", {}, b"", 422, "empty body"),
    ]  # fmt: skip


def test_bad_uploads_are_refused_and_leave_nothing(client: httpx.Client, server: LiveServer) -> None:
    before = stored_state(server)
    cases = bad_model_uploads()
    # The bomb really is one: a small body that inflates past the limit.
    bomb = next(body for name, _, body, _, _ in cases if name == "zip-bomb")
    assert isinstance(bomb, bytes) and len(bomb) < 1024 * 1024
    for name, params, body, status, phrase in cases:
        response = client.post("/v1/models", params=params, content=body)  # type: ignore[arg-type]
        assert response.status_code == status, (name, response.text)
        assert_problem(response, status, phrase)
        assert response.json()["instance"] == "/v1/models"
    assert stored_state(server) == before
    # Still serving, and still taking good models.
    assert client.get("/v1/models").status_code == 200
    assert client.post("/v1/models", content=builders.digits_model()).status_code in (200, 201)


def test_reads_and_auth(client: httpx.Client, server: LiveServer) -> None:
    assert_problem(client.get(f"/v1/models/{'0' * 64}"), 404, "GET /v1/models lists")
    assert_problem(client.get("/v1/models/not-a-sha"), 422, "model_id")
    anonymous = httpx.post(f"{server.base_url}/v1/models", content=builders.digits_model())
    assert_problem(anonymous, 401, "Authorization")
    wrong = httpx.get(f"{server.base_url}/v1/models", headers={"Authorization": "Bearer nope"})
    assert_problem(wrong, 401, "wrong API token")


def test_openapi_documents_uploads(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path, method, codes in [
        ("/v1/models", "post", {"401", "413", "415", "422"}),
        ("/v1/models", "get", {"401"}),
        ("/v1/models/{model_id}", "get", {"401", "404", "422"}),
        ("/v1/datasets", "post", {"401", "413", "415", "422"}),
        ("/v1/datasets", "get", {"401"}),
        ("/v1/datasets/{dataset_id}", "get", {"401", "404", "422"}),
    ]:
        operation = paths[path][method]
        assert codes <= set(operation["responses"]), (path, method)
        for code in codes:
            assert PROBLEM in operation["responses"][code]["content"], (path, method, code)
        assert operation.get("summary"), (path, method)
    for path in ("/v1/models", "/v1/datasets"):
        body = paths[path]["post"]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/octet-stream"]["schema"] == {"type": "string", "format": "binary"}
        assert {"200", "201"} <= set(paths[path]["post"]["responses"])
    schemas = document["components"]["schemas"]
    assert schemas["ModelOut"]["properties"]["input_shape"]["examples"] == [[8, 8, 1]]
    assert schemas["DatasetOut"]["properties"]["num_classes"]["examples"] == [10]
    dataset_name = next(p for p in paths["/v1/datasets"]["post"]["parameters"] if p["name"] == "name")
    assert dataset_name["required"] is True and dataset_name["schema"]["examples"] == ["cifar10-small"]
