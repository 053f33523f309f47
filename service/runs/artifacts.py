"""A run's files: where they live and which of them the API serves.

Only names from this list are served, so a request can never reach outside the run
directory: baseline.keras, iter_NNN.keras / iter_NNN.tflite (the model kept by each
iteration), final.keras, final.tflite, report.json (the run's history.json).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from service.pruning import run_layout as layout

REPORT_NAME = "report.json"  # served name of the run directory's history.json
_ITERATION = re.compile(r"^iter_(\d{3,})\.(keras|tflite)$")


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: str  # baseline | iteration | final | report
    format: str  # keras | tflite | json
    iteration: int | None
    size_bytes: int
    path: Path


def run_dir(runs_root: Path, run_id: str) -> Path:
    return runs_root / run_id


def _relative(name: str) -> tuple[str, str, int | None] | None:
    """(path inside the run dir, kind, iteration) for a servable name, else None."""
    if name == layout.BASELINE_MODEL:
        return name, "baseline", None
    if name in (layout.FINAL_KERAS, layout.FINAL_TFLITE):
        return name, "final", None
    if name == REPORT_NAME:
        return layout.HISTORY_FILE, "report", None
    match = _ITERATION.match(name)
    if match:
        return f"{layout.ITERATIONS_DIR}/{name}", "iteration", int(match.group(1))
    return None


def find_artifact(directory: Path, name: str) -> Artifact | None:
    known = _relative(name)
    if known is None:
        return None
    relative, kind, iteration = known
    path = directory / relative
    if not path.is_file():
        return None
    return Artifact(name, kind, name.rsplit(".", 1)[1], iteration, path.stat().st_size, path)


def list_artifacts(directory: Path) -> list[Artifact]:
    names = [layout.BASELINE_MODEL]
    iterations = directory / layout.ITERATIONS_DIR
    if iterations.is_dir():
        names += sorted(p.name for p in iterations.iterdir() if _ITERATION.match(p.name))
    names += [layout.FINAL_KERAS, layout.FINAL_TFLITE, REPORT_NAME]
    found = (find_artifact(directory, name) for name in names)
    return [a for a in found if a is not None]


def iteration_models_without_tflite(directory: Path) -> list[Path]:
    iterations = directory / layout.ITERATIONS_DIR
    if not iterations.is_dir():
        return []
    return sorted(
        p for p in iterations.glob("iter_*.keras") if not p.with_suffix(".tflite").exists()
    )
