"""POST/GET /v1/datasets on a live server: the built-in digits, .npz uploads, and bad
uploads refused with a problem, leaving no file and no row behind."""

from __future__ import annotations

import hashlib

import httpx
import numpy as np

from service.uploads import catalog
from tests.server.conftest import LiveServer
from tests.uploads import builders
from tests.uploads.live import UNCOMPRESSED_LIMIT, assert_problem, client, server, stored_state  # noqa: F401


def test_digits_is_built_in(client: httpx.Client) -> None:
    listed = client.get("/v1/datasets").json()
    assert listed[0]["id"] == "digits"
    digits = client.get("/v1/datasets/digits").json()
    assert digits == listed[0]
    assert (digits["kind"], digits["num_classes"], digits["image_shape"]) == ("builtin", 10, [8, 8, 1])
    assert digits["train_size"] + digits["test_size"] == 1797


def test_upload_an_npz_and_upload_it_again(client: httpx.Client, server: LiveServer) -> None:
    data = builders.npz_bytes(**builders.small_dataset(classes=3, train=24, test=9))
    sha = hashlib.sha256(data).hexdigest()
    created = client.post("/v1/datasets", params={"name": "tiny"}, content=data)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/v1/datasets/{sha}"
    dataset = created.json()
    assert {key: dataset[key] for key in ("id", "name", "kind", "task", "num_classes", "image_shape")} == {
        "id": sha,
        "name": "tiny",
        "kind": "npz",
        "task": "classification",
        "num_classes": 3,
        "image_shape": [8, 8, 1],
    }
    assert (dataset["train_size"], dataset["test_size"], dataset["size_bytes"]) == (24, 9, len(data))
    assert catalog.dataset_npz_path(server.settings.data_dir, sha).read_bytes() == data

    again = client.post("/v1/datasets", params={"name": "tiny-again"}, content=data)
    assert again.status_code == 200 and again.json() == dataset
    assert client.get(f"/v1/datasets/{sha}").json() == dataset
    assert [d["id"] for d in client.get("/v1/datasets").json()] == ["digits", sha]
    with server.session() as session:
        record = catalog.find_dataset(session, sha)
    assert record is not None
    assert catalog.dataset_source(server.settings.data_dir, record).endswith(f"{sha}.npz")


def test_bad_uploads_are_refused_and_leave_nothing(client: httpx.Client, server: LiveServer) -> None:
    before = stored_state(server)
    good = builders.small_dataset()
    float_labels = {**good, "y_train": np.linspace(0.0, 2.0, 24)}
    cases = [
        ({"name": "x"}, b"not an npz", 415, "not an .npz dataset"),
        ({"name": "x"}, builders.zip_bytes({"x_train.npy": b"", "../../y_train.npy": b""}), 422, "path traversal"),
        ({"name": "x"}, builders.zip_bytes({"x_train.npy": b"", "run.sh": b"rm -rf /"}), 422, "only .npy arrays"),
        ({"name": "x"}, builders.zip_bomb("x_train.npy", 2 * UNCOMPRESSED_LIMIT), 413, "NETADAPT_MAX_DATASET_UNCOMPRESSED_BYTES"),
        ({"name": "x"}, b"x" * (1024 * 1024 + 1), 413, "NETADAPT_MAX_UPLOAD_BYTES"),
        ({"name": "x"}, builders.npz_bytes(**float_labels), 422, "y_train has dtype float64"),
        ({}, builders.npz_bytes(**good), 422, "name (query): Field required"),
        ({"name": "../etc"}, builders.npz_bytes(**good), 422, "name (query)"),
    ]
    for params, body, status, phrase in cases:
        response = client.post("/v1/datasets", params=params, content=body)
        assert_problem(response, status, phrase)
    assert stored_state(server) == before
    assert client.get("/v1/datasets/digits").status_code == 200  # still serving


def test_reads_and_auth(client: httpx.Client, server: LiveServer) -> None:
    assert_problem(client.get(f"/v1/datasets/{'0' * 64}"), 404, "GET /v1/datasets lists them")
    assert_problem(client.get("/v1/datasets/cifar"), 422, "dataset_id")
    assert_problem(httpx.get(f"{server.base_url}/v1/datasets"), 401, "Authorization")
