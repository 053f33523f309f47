"""What each page shows, read with the same repository functions the API uses.

Plain dicts and lists, ready for the templates and for the charts' JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from latency_tables import store
from latency_tables.db import utcnow
from service.api.run_schemas import RunOut
from service.api.tables import get_profile as profile_detail
from service.db.tables import LEASED, PENDING
from service.db.runs import RESUMABLE_STATUSES, RUN_STATUSES, Run
from service.run_options import labelled_settings
from service.runs import repository
from service.runs.artifacts import list_artifacts, run_dir
from service.runs.history import iteration_rows, proposal_rows
from service.settings import Settings

CANCELLABLE = ("queued", "running")
EVENT_LOG_LIMIT = 500


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return ""
    seconds = max(0, int(((end or utcnow()) - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else (f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s")


def run_summary(run: Run) -> dict[str, Any]:
    out = RunOut.of(run)
    return {
        **out.model_dump(exclude={"request"}),
        "precision": out.request.training.precision,
        "duration": duration(run.started_at, run.finished_at),
        "can_cancel": run.status in CANCELLABLE,
        "can_resume": run.status in RESUMABLE_STATUSES,
    }


def runs_page(session: Session, status: str | None) -> dict[str, Any]:
    statuses = [status] if status in RUN_STATUSES else None
    runs = [run_summary(run) for run in repository.list_runs(session, statuses, limit=500)]
    return {"runs": runs, "status": status if statuses else "", "statuses": RUN_STATUSES}


def _groups(state: dict[str, Any] | None, iterations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not state:
        return []
    original = dict(state.get("baseline", {}).get("groups", {}))
    # The current model's channels (a fit run has no iterations, only a current model).
    current = (state.get("current") or {}).get("config") or original
    now = dict(iterations[-1]["group_channels"]) if iterations else dict(current)
    return [{"group": g, "original": original[g], "now": now.get(g, original[g])} for g in original]


def run_chart(run: dict[str, Any], iterations: list[dict[str, Any]], proposals: list[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy vs cost: every evaluated proposal, the kept path, the baseline, the budget."""
    evaluated = [p for p in proposals if p["holdout_accuracy"] is not None]
    return {
        "metric": run["metric"],
        "proposals": {
            "x": [p["estimated_cost"] for p in evaluated],
            "y": [p["holdout_accuracy"] for p in evaluated],
            "text": [f"iteration {p['iteration']}: {p['group']} -> {p['channels']} ch" for p in evaluated],
        },
        "path": {
            "x": [i["cost"] for i in iterations],
            "y": [i["holdout_accuracy"] for i in iterations],
            "text": [f"iteration {i['index']}: kept {i['kept_group']} -> {i['channels']} ch" for i in iterations],
        },
        "baseline": {"x": run["baseline_cost"], "y": run["baseline_accuracy"]},
        "budget": run["budget_cost"],
    }


def setting_text(value: Any) -> str:
    """A setting's value as the dashboard prints it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(setting_text(v) for v in value) or "none"
    return str(value)


def run_settings(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's engine and training settings, under the labels they are declared with."""
    return [{**row, "text": setting_text(row["value"])} for row in labelled_settings(request)]


def run_page(session: Session, settings: Settings, run: Run) -> dict[str, Any]:
    summary = run_summary(run)
    state = run.state
    iterations = iteration_rows(state)
    proposals = proposal_rows(state)
    for row in iterations:
        row["proposal_rows"] = [p for p in proposals if p["iteration"] == row["index"]]
    pending = [p for p in proposals if p["iteration"] >= len(iterations)]
    events = repository.events_after(session, run.id, 0, limit=100_000)[-EVENT_LOG_LIMIT:]
    groups = _groups(state, iterations)
    return {
        "run": summary,
        "spec": run.request,
        "settings": run_settings(run.request),
        "iterations": iterations,
        "pending": pending,
        "groups": groups,
        "events": [{"seq": e.seq, "at": e.at, "type": e.type, "data": e.data} for e in reversed(events)],
        "last_seq": events[-1].seq if events else 0,
        "artifacts": list_artifacts(run_dir(settings.runs_dir, run.id)),
        "chart": run_chart(summary, iterations, proposals),
        "channels": {
            "groups": [g["group"] for g in groups],
            "original": [g["original"] for g in groups],
            "now": [g["now"] for g in groups],
        },
    }


def devices_page(session: Session, settings: Settings) -> dict[str, Any]:
    profiles = []
    for profile in store.list_profiles(session):
        detail = profile_detail(profile, session, settings).model_dump()
        detail["queue_depth"] = detail["jobs"].get(PENDING, 0) + detail["jobs"].get(LEASED, 0)
        profiles.append(detail)
    return {"profiles": profiles, "offline_after": settings.offline_after_seconds}
