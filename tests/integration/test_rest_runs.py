"""The service end to end over REST, with the server as a real process on loopback:
upload, run, events (JSON and SSE), cancel, resume, download; and a server SIGKILLed
mid-run that, restarted, finishes the run without fine-tuning any proposal twice."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from service.client import NetAdaptClient
from tests.device_agent.live import free_port, wait_until
from tests.helpers.run_requests import digits_run
from tests.helpers.server_process import ServerProcess
from tests.server.conftest import API_TOKEN

pytestmark = pytest.mark.slow

# Two short iterations on the digits CNN; macs keeps agents out of it.
SMALL_RUN = digits_run(budget=0.75, iterations=2, short_term_steps=20)


def comparable(report: dict) -> list:
    return [
        (it["kept"]["group"], it["channels"],
         [(p["group"], p["channels"], p["holdout_accuracy"]) for p in it["proposals"]])
        for it in report["iterations"]
    ]


def finished_proposals(api: NetAdaptClient, run_id: str) -> list[tuple[int, str]]:
    return [(e["data"]["iteration"], e["data"]["group"]) for e in api.events(run_id) if e["type"] == "proposal_finished"]


def wait_for_event(api: NetAdaptClient, run_id: str, accept) -> dict:
    """The first SSE event that `accept` takes; the stream is the live one."""
    for event in api.stream_events(run_id):
        if accept(event):
            return event
    raise AssertionError(f"run {run_id} ended before the awaited event: {api.run(run_id)}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("rest") / "data", free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def model_id(api, trained_digits_model):
    return api.upload_model(trained_digits_model)["id"]


@pytest.fixture(scope="module")
def reference(api, model_id):
    """An uninterrupted run: what the interrupted ones must reproduce."""
    run = api.create_run({"model_id": model_id, **SMALL_RUN})
    events = []
    final = api.wait(run["id"], on_event=events.append)
    assert final["status"] == "finished", final
    return {"run": final, "report": api.report(run["id"]), "events": events}


def test_a_run_streams_numbered_events_and_its_artifacts_download(api, reference, tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    run, report, events = reference["run"], reference["report"], reference["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "created" and kinds[-1] == "status" and events[-1]["data"]["status"] == "finished"
    assert "baseline_measured" in kinds and kinds.count("iteration_finished") == len(report["iterations"])
    # The JSON log holds the same events; after= pages through it.
    assert [e["seq"] for e in api.events(run["id"])] == seqs
    assert [e["seq"] for e in api.events(run["id"], after=seqs[-3])] == seqs[-2:]

    # Two iterations (max_iterations) take it part of the way to the budget.
    assert run["budget_cost"] < run["current_cost"] < run["baseline_cost"]
    assert run["stop_reason"] == report["summary"]["stop_reason"] == "max_iterations"
    assert run["progress"] == 1.0 and run["test_accuracy"] > 0.8
    iterations = api.iterations(run["id"])
    assert [i["index"] for i in iterations] == [it["index"] for it in report["iterations"]]
    proposals = api.proposals(run["id"])
    assert sum(p["kept"] for p in proposals) == len(iterations)

    names = {a["name"] for a in api.artifacts(run["id"])}
    for index in range(len(iterations)):
        assert {f"iter_{index:03d}.keras", f"iter_{index:03d}.tflite"} <= names
    assert {"baseline.keras", "final.keras", "final.tflite", "report.json"} <= names

    path = api.download(run["id"], "final.tflite", tmp_path / "final.tflite")
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    assert list(inp["shape"][1:]) == [8, 8, 1]
    interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=np.float32))
    interpreter.invoke()
    probabilities = interpreter.get_tensor(out["index"])[0]
    assert probabilities.shape == (10,) and abs(float(probabilities.sum()) - 1.0) < 1e-4


def recorded_proposals(api: NetAdaptClient, run_id: str) -> dict[tuple[int, str], float]:
    """(iteration, group) -> fine-tune seconds of every proposal with a recorded result."""
    return {
        (p["iteration"], p["group"]): p["finetune_seconds"]
        for p in api.proposals(run_id)
        if p["holdout_accuracy"] is not None
    }


def assert_same_history_without_refinetuning(api, run_id, before, reference) -> None:
    final = api.run(run_id)
    assert final["status"] == "finished", final
    report = api.report(run_id)
    assert comparable(report) == comparable(reference["report"])
    # A proposal recorded before the interruption kept its result: it was not re-run.
    after = recorded_proposals(api, run_id)
    assert {key: after[key] for key in before} == before
    finished = finished_proposals(api, run_id)
    assert len(finished) == len(set(finished)), "a proposal was fine-tuned twice"


def worker_pids(run_id: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"service.runs.worker" in cmdline and run_id.encode() in cmdline:
            pids.append(int(entry))
    return pids


def test_cancel_stops_the_worker_and_resume_finishes_the_same_run(api, server, model_id, reference):
    run = api.create_run({"model_id": model_id, **SMALL_RUN})
    wait_for_event(api, run["id"], lambda e: e["type"] == "proposal_finished")
    workers = worker_pids(run["id"])
    assert workers, "no worker process for the running run"
    assert api.cancel(run["id"])["status"] in ("cancelling", "cancelled")
    wait_until(lambda: api.run(run["id"])["status"] == "cancelled", 30, "the cancel to complete")
    assert not any(pid_alive(p) for p in workers)
    before = recorded_proposals(api, run["id"])
    assert before

    assert api.resume(run["id"])["status"] == "queued"
    api.wait(run["id"])
    assert_same_history_without_refinetuning(api, run["id"], before, reference)


def test_a_server_killed_mid_run_resumes_it_after_restart(api, server, model_id, reference):
    run = api.create_run({"model_id": model_id, **SMALL_RUN})
    # Mid-iteration 1: after its first proposal is recorded.
    wait_for_event(api, run["id"], lambda e: e["type"] == "proposal_finished" and e["data"]["iteration"] == 1)
    workers = worker_pids(run["id"])
    assert workers, "no worker process for the running run"
    before = recorded_proposals(api, run["id"])
    assert any(iteration == 1 for iteration, _ in before)
    server.kill()
    # The worker dies with the server (parent-death signal): nothing else runs the run.
    wait_until(lambda: not any(pid_alive(p) for p in workers), 20, "the worker to die with the server")

    server.start()
    api.wait(run["id"])
    assert_same_history_without_refinetuning(api, run["id"], before, reference)
    messages = [e["data"]["message"] for e in api.events(run["id"]) if e["type"] == "status"]
    assert any("restarted" in m for m in messages), messages


def test_the_runs_cli_lists_shows_follows_and_downloads(server, reference, tmp_path, trained_digits_model):
    from tests.helpers.cli import run_cli

    run_id = reference["run"]["id"]
    common = ["--server", server.base_url, "--api-token", API_TOKEN]
    listed = run_cli("runs", "list", "--status", "finished", *common)
    assert listed.returncode == 0, listed.stderr
    assert run_id in listed.stdout
    shown = run_cli("runs", "show", run_id, *common)
    assert shown.returncode == 0, shown.stderr
    assert "finished" in shown.stdout and "iter 1:" in shown.stdout and "final" in shown.stdout
    # Following an ended run replays its events and prints the table.
    followed = run_cli("runs", "wait", run_id, *common)
    assert followed.returncode == 0 and "iteration 1: kept" in followed.stdout, followed.stdout
    downloaded = run_cli("runs", "download", run_id, "--out", str(tmp_path), *common)
    assert downloaded.returncode == 0, downloaded.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"final.keras", "final.tflite", "report.json"}
    missing = run_cli("runs", "download", run_id, "--artifact", "iter_099.keras", "--out", str(tmp_path), *common)
    assert missing.returncode == 2 and "has no iter_099.keras" in missing.stderr

    # create uploads the file (same content: same model id) and starts a run; cancel stops it.
    created = run_cli("runs", "create", "--model", str(trained_digits_model), "--budget", "0.5", *common)
    assert created.returncode == 0, created.stderr
    new_id = created.stdout.split()[1]
    cancelled = run_cli("runs", "cancel", new_id, *common)
    assert cancelled.returncode == 0 and new_id in cancelled.stdout
    wrong = run_cli("runs", "show", "nosuchrun", *common)
    assert wrong.returncode == 2 and "no run 'nosuchrun'" in wrong.stderr


def test_a_run_that_cannot_reach_its_budget_fails_with_the_reason(api, model_id):
    run = api.create_run({"model_id": model_id, **SMALL_RUN, "budget": 0.001})
    final = api.wait(run["id"])
    assert final["status"] == "failed"
    assert "unreachable" in final["error"] and "internal error" not in final["error"], final["error"]
    # A failed run can be resumed (it fails again for the same reason) and deleted.
    assert api.resume(run["id"])["status"] == "queued"
    assert api.wait(run["id"])["status"] == "failed"
    api.delete(run["id"])
    assert run["id"] not in [r["id"] for r in api.runs()]
