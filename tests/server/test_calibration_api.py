"""The table's calibration over a real server: a submitted model's layers are kept for the
fit, and lookups return the profile's calibration next to the single scale."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from latency_tables import build_single_op_model
from latency_tables.calibration import Calibration, Layer, model_features
from latency_tables.protocol import RegistrationReply, result_path
from latency_tables.store import ModelLayers
from service.db.session import Database
from service.tables_client import TablesClient
from tests.server.conftest import API_TOKEN, LiveServer
from tests.server.helpers import bearer, conv, device, lease, register


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, timeout=15) as http:
        yield http


def test_submitted_model_layers_are_kept_and_lookups_carry_the_calibration(
    client: httpx.Client, live_server: LiveServer
) -> None:
    agent: RegistrationReply = register(client, "agent", device())
    model = build_single_op_model(conv(16))
    with TablesClient(live_server.base_url, API_TOKEN) as tables:
        job_id = tables.submit_model(agent.profile_id, "latency_ms", model, raw_sum=2.0, estimated=2.0)
        assert [j["id"] for j in lease(client, agent)] == [job_id]
        client.put(result_path(job_id), json={"median": 3.0, "spread": 0.0, "n": 5}, headers=bearer(agent))
        tables.wait_for_jobs([job_id], timeout=5)
        reply = tables.lookup(agent.profile_id, "latency_ms", [])
    database = Database.connect(live_server.settings.database_url)
    try:
        with database.session() as session:
            kept = session.get(ModelLayers, hashlib.sha256(model).hexdigest())
            assert kept is not None and kept.layers() == [(conv(16).digest, "CONV_2D", kept.layers()[0][2])]
    finally:
        database.dispose()
    # one measured model: the calibration is the single scale, and says so
    calibration = Calibration(**reply["calibration"])
    assert calibration.kind == "scale" and calibration.scale == pytest.approx(reply["scale"]) == pytest.approx(1.5)
    assert calibration.predict(model_features([Layer("CONV_2D", 2.0)])) == pytest.approx(3.0)
