"""Training settings of a run (the parts the pure engine does not know about)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.costs.device_export import DEVICE_DTYPES
from service.netadapt.option_fields import (
    check_values,
    coerce_types,
    from_saved_dict,
    option,
    to_saved_dict,
)

# The options every saved run directory has held. Frozen: an option added later is left
# out of to_dict() while at its default, so a run directory made before it existed still
# resumes (its settings compare equal). Never add to this set.
SAVED_BY_EVERY_VERSION = frozenset(
    {
        "short_term_steps", "batch_size", "learning_rate", "holdout", "long_term_epochs",
        "long_term_learning_rate", "augment", "seed", "apoz_samples",
    }
)  # fmt: skip


@dataclass(frozen=True)
class TrainingOptions:
    """Short-term fine-tune per proposal, holdout split, and final long-term fine-tune.

    Each option is declared once, here; the REST schema, CLI flags and dashboard labels
    are derived from these declarations (service/run_options.py).
    """

    short_term_steps: int = option(
        100,
        ge=1,
        label="Short-term steps",
        le=1_000_000,
        help="training steps (batches) each proposal is fine-tuned for before its holdout "
        "accuracy is measured",
    )
    batch_size: int = option(
        64, ge=1, le=65_536, help="samples per training step, in the short- and the long-term fine-tune"
    )
    learning_rate: float = option(
        # Measured (benchmarks/short_term_defaults.py, README): a fresh Adam at 1e-3 costs a
        # trained VGG 6-7 points of holdout accuracy before anything is pruned; at 5e-5 the
        # unpruned parent stays within 0.5 point, so the ranking measures pruning damage.
        5e-5,
        gt=0,
        le=10,
        label="Short-term learning rate",
        help="learning rate of each proposal's short-term fine-tune; small, because the optimizer "
        "starts fresh on an already trained network and a large rate damages it before any "
        "channel is gone",
    )
    short_term_optimizer: str = option(
        "adam",
        choices=("adam", "sgd"),
        label="Short-term optimizer",
        help="optimizer of each proposal's short-term fine-tune, started fresh per proposal: "
        "'adam', or 'sgd' with momentum 0.9",
    )
    batchnorm_samples: int = option(
        512,
        ge=0,
        le=1_000_000,
        label="BN re-estimation samples",
        help="training samples whose statistics replace every batch norm's moving mean and "
        "variance (forward passes in training mode, no weight update) before a model is "
        "scored on the holdout, so a short fine-tune's lagging statistics do not decide the "
        "ranking; 0 keeps the moving statistics as the fine-tune left them",
    )
    holdout: float = option(
        0.15,
        gt=0,
        le=1_000_000,
        help="training samples held out to score proposals: below 1 a fraction of the "
        "training split (0.15 = 15%), from 1 up a count of samples (500 = 500 samples, fractions dropped). The "
        "test split is never used to choose; the long-term fine-tune trains on the whole "
        "training split",
        hint="a fraction of the training split, or a count",
    )
    long_term_epochs: int = option(
        10,
        ge=0,
        le=10_000,
        label="Long-term epochs",
        help="epochs of the final fine-tune of the last iteration's model on the whole "
        "training split. 0 means no long-term fine-tune: the last iteration's model is "
        "exported as is and evaluated on the test split",
    )
    long_term_learning_rate: float = option(
        3e-4,
        gt=0,
        le=10,
        label="Long-term learning rate",
        help="learning rate of the final long-term fine-tune",
    )
    augment: bool = option(
        False, help="random horizontal flips and crops of the training images while fine-tuning"
    )
    seed: int = option(
        0,
        ge=0,
        le=2**31 - 1,
        help="seeds the holdout split, batch order, augmentation and dropout: the same seed "
        "and settings give the same run",
    )
    apoz_samples: int = option(
        256,
        ge=1,
        le=1_000_000,
        label="APoZ samples",
        help="training samples whose activations rank channels when saliency is 'apoz' "
        "(average percentage of zeros); unused otherwise",
    )
    precision: str = option(
        "float32",
        choices=DEVICE_DTYPES,
        help="what the device runs: 'float32', or 'int8' (full-integer post-training "
        "quantization with int8 inputs and outputs, calibrated on samples of the training "
        "split): costs are measured on int8 models, the .tflite artifacts are int8, and the "
        "final model's int8 test accuracy is measured with LiteRT beside the Keras one. "
        "Fine-tuning stays in float32",
    )

    def __post_init__(self) -> None:
        coerce_types(self)
        check_values(self)

    def to_dict(self) -> dict[str, Any]:
        return to_saved_dict(self, SAVED_BY_EVERY_VERSION)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingOptions:
        result: TrainingOptions = from_saved_dict(cls, data, "training option")
        return result


@dataclass(frozen=True)
class DataSpec:
    """How to load the run's dataset, in any process (workers reload it themselves)."""

    source: str  # "digits", an .npz path, or an image directory
    image_size: tuple[int, int] | None = None
    channels: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "image_size": self.image_size, "channels": self.channels}
