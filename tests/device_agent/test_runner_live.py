"""The agent loop against the real server: a uvicorn server on loopback, a real agent
process (host-latency, real LiteRT), jobs enqueued through the server's queue API."""

from __future__ import annotations

from pathlib import Path

import pytest

from latency_tables import LayerSignature, build_single_op_model
from tests.device_agent.live import AgentProcess, Api, free_port, serve, wait_until


def conv(channels: int, size: int = 14) -> LayerSignature:
    return LayerSignature(
        op="CONV_2D",
        inputs=[(1, size, size, channels)],
        output=(1, size, size, channels),
        kernel=(3, 3),
        stride=(1, 1),
        padding="SAME",
        activation="RELU",
    )


def dense(inputs: int, outputs: int) -> LayerSignature:
    return LayerSignature(op="FULLY_CONNECTED", inputs=[(1, inputs)], output=(1, outputs))


def measured_entries(api: Api, signatures: list[LayerSignature]) -> tuple[str, dict]:
    """The host-latency profile, and its entries once the agent has measured every one of
    `signatures`."""
    profile = api.profile_id("host-latency")
    entries = api.wait_for_entries(profile, [s.to_dict() for s in signatures], timeout=90)
    assert set(entries) == {s.digest for s in signatures}
    return profile, entries


def test_agent_measures_layer_and_model_jobs_then_stops_on_sigterm(tmp_path: Path) -> None:
    signatures = [conv(8), conv(16), dense(256, 64)]
    with serve(tmp_path / "data", free_port(), heartbeat_seconds=1.0) as url, AgentProcess(
        url, tmp_path, "host-latency", "--max-jobs", "8"
    ) as agent:
        api = Api(url)
        profile, entries = measured_entries(api, signatures)
        assert all(e["median"] > 0 and e["n"] >= 1 for e in entries.values())

        model_job = api.submit_model(profile, build_single_op_model(conv(24)))
        done = wait_until(lambda: (j := api.job(model_job))["status"] in ("done", "failed") and j, 90, "the model job")
        assert done["status"] == "done", done
        assert done["result"]["median"] > 0 and done["result"]["error"] is None
        assert done["result"]["details"]["reference_baseline_ms"] > 0
        assert (tmp_path / "cache" / "blobs" / f"{done['model_sha256']}.tflite").is_file()

        # Bytes that pass the server's .tflite check but that LiteRT cannot load: the
        # agent reports an error result instead of crashing, and the job fails with it.
        broken_job = api.submit_model(profile, b"\x1c\x00\x00\x00TFL3 not really a model")
        failed = wait_until(lambda: (j := api.job(broken_job))["status"] in ("done", "failed") and j, 60, "the broken job")
        assert failed["status"] == "failed" and "cannot load model" in failed["failure_reason"], failed

        assert agent.terminate() == 0
        log = agent.log()
        assert "batch: " in log and "agent stopped" in log
        assert agent.process.poll() == 0
        api.close()


def test_the_report_of_a_batch_leases_the_next_one(tmp_path: Path) -> None:
    # 12 jobs, 4 per lease: the first batch comes from a lease, the next two with the
    # reports before them, and the last report finds the queue empty.
    signatures = [conv(4 + i) for i in range(12)]
    with serve(tmp_path / "data", free_port()) as url, AgentProcess(
        url, tmp_path, "host-latency", "--max-jobs", "4"
    ) as agent:
        api = Api(url)
        measured_entries(api, signatures)
        assert agent.terminate() == 0
        batches = [line for line in agent.log().splitlines() if "batch: " in line]
        assert len(batches) == 3, agent.log()
        assert [line.rsplit(";", 1)[1].strip() for line in batches] == [
            "4 more leased with the report",
            "4 more leased with the report",
            "0 more leased with the report",
        ]
        api.close()


def test_agent_survives_server_restart_and_registers_again(tmp_path: Path) -> None:
    port = free_port()
    with AgentProcess(f"http://127.0.0.1:{port}", tmp_path, "host-latency") as agent:
        # The server is not up yet: the agent retries with backoff instead of exiting.
        with serve(tmp_path / "first", port) as url:
            api = Api(url)
            profile = api.profile_id("host-latency")
            api.wait_for_entries(profile, [conv(8).to_dict()], timeout=90)
            api.close()
        assert agent.process.poll() is None, agent.log()
        # A new server with an empty database: the agent's secret is unknown there (401),
        # so it must register again and carry on.
        with serve(tmp_path / "second", port) as url:
            api = Api(url)
            profile = api.profile_id("host-latency", timeout=90)
            api.wait_for_entries(profile, [conv(16).to_dict()], timeout=90)
            api.close()
        assert agent.terminate() == 0
        log = agent.log()
        assert "registering again" in log, log


def test_sigterm_while_measuring_releases_the_leased_jobs(tmp_path: Path) -> None:
    # Big enough that a batch of 8 takes seconds; a long lease, so only a release (not
    # expiry) can put the jobs back to pending.
    signatures = [conv(64 + 8 * i, size=56) for i in range(8)]
    with serve(tmp_path / "data", free_port(), lease_seconds=600.0) as url, AgentProcess(
        url, tmp_path, "host-latency", "--max-jobs", "8"
    ) as agent:
        api = Api(url)
        profile = api.profile_id("host-latency")
        job_ids = list(api.lookup(profile, [s.to_dict() for s in signatures])["jobs"].values())
        wait_until(lambda: any(api.job(j)["status"] == "leased" for j in job_ids), 60, "a leased job", interval=0.05)

        assert agent.terminate(timeout=20) == 0
        statuses = {j: api.job(j)["status"] for j in job_ids}
        assert "leased" not in statuses.values(), (statuses, agent.log())
        if "pending" not in statuses.values():
            pytest.skip(f"the agent finished the whole batch before SIGTERM arrived: {statuses} {agent.log()}")
        assert "released" in agent.log()
        api.close()
