"""Where a run keeps its files. Model references stored in the run state are paths
relative to the run directory, so that a run directory can be moved and still resumed."""

from __future__ import annotations

import re
from pathlib import Path

STATE_FILE = "state.json"
HISTORY_FILE = "history.json"
SETTINGS_FILE = "settings.json"
BASELINE_MODEL = "baseline.keras"
PROPOSALS_DIR = "proposals"
ITERATIONS_DIR = "iterations"
FINAL_KERAS = "final.keras"
FINAL_TFLITE = "final.tflite"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def proposal_ref(iteration: int, group: str) -> str:
    """A fine-tuned proposal: the parent-shaped weights (the proposal's keep indices say
    which channels are gone; KerasNetwork.commit builds the pruned model from them)."""
    return f"{PROPOSALS_DIR}/iter_{iteration:03d}__{safe_name(group)}.weights.npz"


def iteration_artifact(iteration: int) -> str:
    return f"{ITERATIONS_DIR}/iter_{iteration:03d}.keras"


def resolve(run_dir: Path, ref: str) -> Path:
    path = Path(ref)
    return path if path.is_absolute() else run_dir / path
