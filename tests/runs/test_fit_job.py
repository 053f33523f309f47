"""A fit run's request and record: its method is part of the request (and only then of its
fingerprint), and its checkpoint reads as any run's (report summary, dashboard channels)."""

from __future__ import annotations

from pathlib import Path

from service.dashboard.views import _groups
from service.netadapt import build_report
from service.pruning.fit_run import FitRequest, run_fit
from service.runs.fit_job import STOP_REASON, fit_state
from service.runs.spec import RunCreate


def spec(**overrides) -> RunCreate:
    return RunCreate(**{"model_id": "m" * 64, "budget": 0.5, **overrides})


def test_the_default_method_leaves_fingerprints_as_they_were():
    assert spec().method == "netadapt"
    assert spec().fingerprint() == spec(method="netadapt").fingerprint() != spec(method="fit").fingerprint()


def test_a_fit_checkpoint_reports_like_a_run(tmp_path: Path):
    from service.zoo import digits_cnn

    path = tmp_path / "digits.keras"
    digits_cnn().save(path)
    events: list[dict] = []
    outcome = run_fit(FitRequest(model_path=path, metric="macs", budget=0.6), events.append)
    state = fit_state(outcome)
    summary = build_report(state)["summary"]
    result = outcome.result
    assert summary["stop_reason"] == STOP_REASON and summary["iterations"] == 0
    assert (summary["baseline_cost"], summary["budget_cost"]) == (result.baseline_cost, result.budget)
    assert summary["final_cost"] == result.cost <= 0.6 * result.baseline_cost
    assert summary["final_channels"] == result.channels != result.baseline_channels
    assert state["fit"]["steps"][-1]["cost"] == result.cost
    # The dashboard's channel chart shows the fitted widths (a fit has no iterations).
    assert {g["group"]: g["now"] for g in _groups(state, [])} == result.channels
    # Progress: the baseline, then one event per channel step.
    assert [e["event"] for e in events] == ["baseline_measured"] + ["fit_step"] * (len(result.steps) - 1)
    assert events[0]["budget_cost"] == result.budget
