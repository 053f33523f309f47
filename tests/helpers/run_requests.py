"""REST run requests small enough for a test: the bundled digits data, one worker and one
long-term epoch; the caller picks the cost, the budget and how much work a run does."""

from __future__ import annotations

from typing import Any


def digits_run(*, budget: float, iterations: int, short_term_steps: int, metric: str = "macs",
               **training: Any) -> dict[str, Any]:
    """A POST /v1/runs body without model_id; `training` adds training options (precision...)."""
    return {
        "dataset_id": "digits",
        "metric": metric,
        "budget": budget,
        "engine": {"max_iterations": iterations},
        "training": {"short_term_steps": short_term_steps, "long_term_epochs": 1, **training},
        "workers": 1,
    }
