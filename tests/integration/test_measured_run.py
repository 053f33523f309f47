"""A NetAdapt run priced by measured lookup tables: a real server on loopback, real
agent processes measuring with LiteRT, and `netadapt prune --metric latency_ms`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from service.costs.keras_signatures import signatures_for_config
from service.surgery import analyze
from tests.device_agent.live import AgentProcess, Api, free_port, serve, wait_until
from tests.integration.measured_prune import check_measured_run, start_prune

pytestmark = pytest.mark.slow


def _final_signatures(out: Path) -> list[dict]:
    import keras

    history = json.loads((out / "history.json").read_text())
    baseline = keras.saving.load_model(out / "baseline.keras", compile=False)
    graph = analyze(baseline)
    return [s.to_dict() for s in signatures_for_config(graph, history["summary"]["final_channels"])]


def test_latency_run_uses_measured_entries_only(tmp_path, trained_digits_model):
    with serve(tmp_path / "data", free_port(), heartbeat_seconds=1.0) as url, AgentProcess(
        url, tmp_path, "host-latency"
    ):
        api = Api(url)
        profile = api.profile_id("host-latency")
        out = tmp_path / "run"
        proc = start_prune(trained_digits_model, url, profile, out, "latency_ms")
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr

        check_measured_run(api, profile, out, "latency_ms")
        # Every layer of the final model has a measured entry; looking them up queues nothing.
        reply = api.lookup(profile, _final_signatures(out))
        assert reply["missing"] == [] and reply["jobs"] == {}
        assert all(e["median"] > 0 for e in reply["entries"].values())
        api.close()


def test_agent_killed_holding_a_lease_loses_nothing(tmp_path, trained_digits_model):
    with serve(tmp_path / "data", free_port(), heartbeat_seconds=0.5, lease_seconds=2.0,
               requeue_interval_seconds=0.5) as url:
        first_dir, second_dir = tmp_path / "a", tmp_path / "b"
        first_dir.mkdir(), second_dir.mkdir()
        api = Api(url)
        with AgentProcess(url, first_dir, "host-latency") as first:
            profile = api.profile_id("host-latency")
            out = tmp_path / "run"
            proc = start_prune(trained_digits_model, url, profile, out, "latency_ms")

            def leased() -> bool:
                jobs = api.http.get(f"/v1/profiles/{profile}").raise_for_status().json()["jobs"]
                return jobs.get("leased", 0) > 0

            wait_until(leased, 300, "the first agent to lease a job")
            first.process.kill()  # SIGKILL: no chance to release its lease
            first.process.wait()

        with AgentProcess(url, second_dir, "host-latency"):
            stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr
        history = json.loads((out / "history.json").read_text())
        assert history["summary"]["stop_reason"] in ("budget_met", "max_iterations")
        detail = api.http.get(f"/v1/profiles/{profile}").raise_for_status().json()
        assert detail["jobs"].get("failed", 0) == 0
        assert detail["jobs"].get("pending", 0) == 0 and detail["jobs"].get("leased", 0) == 0
        with sqlite3.connect(tmp_path / "data" / "netadapt.db") as db:
            # attempts counts expired leases: the killed agent's job expired once, then
            # the second agent measured it.
            (retried,) = db.execute(
                "SELECT count(*) FROM jobs WHERE attempts >= 1 AND status = 'done'"
            ).fetchone()
        assert retried >= 1, "no job was finished by the second agent after the lease expired"
        api.close()
