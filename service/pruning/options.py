"""Training settings of a run (the parts the pure engine does not know about)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class TrainingOptions:
    """Short-term fine-tune per proposal, holdout split, and final long-term fine-tune."""

    short_term_steps: int = 100
    batch_size: int = 64
    learning_rate: float = 1e-3
    holdout: float = 0.15  # fraction (or, if >= 1, count) of the training split
    long_term_epochs: int = 10
    long_term_learning_rate: float = 3e-4
    augment: bool = False
    seed: int = 0
    apoz_samples: int = 256

    def __post_init__(self) -> None:
        if self.short_term_steps < 1:
            raise ValueError("short_term_steps must be >= 1")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if not self.learning_rate > 0 or not self.long_term_learning_rate > 0:
            raise ValueError("learning rates must be > 0")
        if not self.holdout > 0:
            raise ValueError("holdout must be > 0 (a fraction of the training split, or a count)")
        if self.long_term_epochs < 0:
            raise ValueError("long_term_epochs must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingOptions":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training options: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class DataSpec:
    """How to load the run's dataset, in any process (workers reload it themselves)."""

    source: str  # "digits", an .npz path, or an image directory
    image_size: tuple[int, int] | None = None
    channels: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "image_size": self.image_size, "channels": self.channels}
