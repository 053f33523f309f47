"""Proposals on Ray actors on a real local Ray instance (2 CPUs).

The unit test uses a stand-in proposal (no TensorFlow) to check what the executor
promises: one long-lived actor process per worker for the whole run, killed when the run
ends, models in and out as bytes (the actor never
sees the driver's run directory), results in the caller's thread. The end-to-end test
runs the same short `netadapt prune` with `--executor local` and `--executor ray` and
gets the same history."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from service.executors.selection import ExecutorChoice, choose_executor
from service.netadapt.interfaces import ProposalResult, ProposalSpec
from tests.executors import fake_proposals
from tests.helpers.cli import run_cli


def spec(iteration: int, group: str, channels: int, parent: str) -> ProposalSpec:
    return ProposalSpec(iteration, group, channels, tuple(range(channels)), parent, 1.0, {group: channels})


def test_choice_follows_flag_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RAY_ADDRESS", "NETADAPT_RAY_ADDRESS", "NETADAPT_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    assert choose_executor() == ExecutorChoice("local")
    assert choose_executor("ray") == ExecutorChoice("ray", None)
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert choose_executor() == ExecutorChoice("ray", "ray://head:10001")
    assert choose_executor("local") == ExecutorChoice("local")
    monkeypatch.setenv("NETADAPT_EXECUTOR", "local")
    assert choose_executor() == ExecutorChoice("local")
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        choose_executor("dask")


def test_server_settings_reach_the_run_workers_choice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from service.settings import Settings, settings_environment

    for name in ("RAY_ADDRESS", "NETADAPT_RAY_ADDRESS", "NETADAPT_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None, data_dir=tmp_path, dev_mode=True, ray_address="ray://head:10001")
    # The server's run workers get the settings as NETADAPT_* variables.
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    assert choose_executor() == ExecutorChoice("ray", "ray://head:10001")
    monkeypatch.setenv("NETADAPT_EXECUTOR", "local")  # as Settings(executor="local") exports it
    assert choose_executor() == ExecutorChoice("local")


def test_ray_actors_live_for_the_run_and_ship_models_as_bytes(tmp_path: Path) -> None:
    import ray

    from service.executors.ray_executor import RayExecutor

    # Ray's workers import functions by module name; the tests package is not installed.
    ray.cloudpickle.register_pickle_by_value(fake_proposals)
    (tmp_path / "baseline.keras").write_bytes(b"baseline\n")
    context = fake_proposals.FakeContext(str(tmp_path))
    got: list[ProposalResult] = []
    with RayExecutor(
        fake_proposals.fake_run_one, context, workers=2, threads=1,
        initializer=fake_proposals.note_threads, initargs=(1,),
    ) as executor:
        executor.run([spec(0, f"g{i}", 8 * (i + 1), "baseline.keras") for i in range(4)], got.append)
        first = got[0]
        # The next iteration's parent is a proposal of this one (and, once, an absolute path).
        executor.run([spec(1, "g9", 4, first.model), spec(1, "g10", 4, str(tmp_path / first.model))], got.append)
    assert ray.is_initialized() is False  # the private instance is shut down

    assert sorted(r.group for r in got) == ["g0", "g1", "g10", "g2", "g3", "g9"]
    pids = [r.extra["pid"] for r in got]
    # Two long-lived actors serve all six proposals (each keeps its compiled step between
    # proposals); none is the driver.
    assert len(set(pids)) == 2 and os.getpid() not in pids
    assert all(r.extra["initialized"] == "1," for r in got)  # initializer ran once in each
    assert all(r.extra["run_dir"] != str(tmp_path) for r in got)  # never the driver's files
    channels = {"g0": 8, "g1": 16, "g2": 24, "g3": 32, "g9": 4, "g10": 4}
    first_bytes = (tmp_path / first.model).read_bytes()
    assert first_bytes == f"baseline\n{first.group}:{channels[first.group]}\n".encode()
    for r in got:
        parent = b"baseline\n" if r.iteration == 0 else first_bytes
        assert (tmp_path / r.model).read_bytes() == parent + f"{r.group}:{channels[r.group]}\n".encode()


SHORT_RUN = ["--data", "digits", "--budget", "0.75", "--max-iterations", "2", "--short-term-steps", "20",
             "--long-term-epochs", "1", "--workers", "2"]


def without_timings(value):
    """The history minus wall-clock durations (every key that names seconds)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


@pytest.mark.slow
def test_a_run_on_ray_has_the_same_history_as_on_local_workers(tmp_path: Path, trained_digits_model: Path) -> None:
    histories = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        result = run_cli("prune", str(trained_digits_model), *SHORT_RUN, "--executor", executor, "--out", str(out))
        assert result.returncode == 0, result.stderr
        histories[executor] = json.loads((out / "history.json").read_text())
        assert sorted(p.name for p in (out / "iterations").iterdir()) == ["iter_000.keras", "iter_001.keras"]
    local, ray_run = histories["local"], histories["ray"]
    assert len(local["iterations"]) == 2
    # Every proposal of every iteration: same channels kept, same holdout accuracy and loss
    # to the last bit, same choice; and the same final model and test accuracy.
    assert without_timings(ray_run) == without_timings(local)
    assert all(p["finetune_seconds"] > 0 for it in ray_run["iterations"] for p in it["proposals"])
