"""POST /v1/models with Keras' MobileNetV3Small on a live server: its config.json holds
keras.ops operation nodes (the hard sigmoid of its squeeze-excite gates is written as
`ReLU6(x + 3.0) * (1 / 6)`), which the allow-list admits and the inspection child
analyses; a look-alike operation surgery does not know is refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cache
from typing import Any

import httpx
import pytest

from tests.server.conftest import LiveServer, make_settings, running_server
from tests.uploads import builders
from tests.uploads.live import assert_problem, client, stored_state  # noqa: F401 (client: on this server)

# The model is ~6 MB; the other upload tests' server caps bodies at 1 MiB. One database
# backend is enough here: what is tested is the config check and the analysis.
LIMIT = 32 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("mobilenet_v3") / "data",
        max_upload_bytes=LIMIT,
        max_model_uncompressed_bytes=LIMIT,
    )
    with running_server(settings) as live:
        yield live


@cache
def mobilenet_v3_small() -> bytes:
    import keras

    keras.utils.set_random_seed(0)
    return builders.saved(keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=10))


def operation_nodes(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [layer for layer in config["config"]["layers"] if layer["module"].startswith("keras.src.ops.")]


def test_mobilenet_v3_small_uploads_and_analyses(client: httpx.Client, server: LiveServer) -> None:
    import json

    data = mobilenet_v3_small()
    config = json.loads(builders.keras_members(data)["config.json"])
    assert {(n["module"], n["class_name"]) for n in operation_nodes(config)} == {
        ("keras.src.ops.numpy", "Add"),
        ("keras.src.ops.numpy", "Multiply"),
    }
    created = client.post("/v1/models", params={"filename": "mobilenet_v3_small.keras"}, content=data)
    assert created.status_code == 201, created.text
    model = created.json()
    assert model["id"] == hashlib.sha256(data).hexdigest()
    assert model["supported"] is True and model["unsupported"] == []
    assert model["input_shape"] == [32, 32, 3] and model["macs"] > 0
    groups = {group["id"]: group for group in model["groups"]}
    # A squeeze-excite gate's expanding conv loses the same channels as the features it
    # gates (coupled through the keras.ops hard sigmoid and the Multiply).
    gated = next(g for g in groups.values() if "expanded_conv_squeeze_excite_conv_1" in g["members"])
    assert gated["prunable"] and len(gated["members"]) >= 2
    assert sum(group["prunable"] for group in groups.values()) >= 20


def test_an_operation_surgery_does_not_know_is_refused(client: httpx.Client, server: LiveServer) -> None:
    def clip_instead_of_add(config: dict[str, Any]) -> dict[str, Any]:
        node = operation_nodes(config)[0]
        node["class_name"] = node["registered_name"] = "Clip"
        node["config"] = {"name": node["name"], "x_min": 0.0, "x_max": 1.0}
        return config

    before = stored_state(server)
    response = client.post("/v1/models", content=builders.with_config(mobilenet_v3_small(), clip_instead_of_add))
    assert_problem(response, 422, "keras.ops operation keras.src.ops.numpy.Clip")
    assert stored_state(server) == before
