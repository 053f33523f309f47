"""What the benchmark runs: models, budgets, NetAdapt's overrides and the fine-tunes.

NetAdapt runs with the service's own defaults (service/pruning/options.py TrainingOptions
for the short-term fine-tune and the holdout; service/netadapt/config.py NetAdaptConfig
for the engine) except where a plan says otherwise below, and each override says why.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pareto_bench.baselines import BaselineRecipe
from pareto_bench.points import NETADAPT_LATENCY, NETADAPT_MACS, NETADAPT_METHODS


@dataclass(frozen=True)
class Plan:
    models: tuple[BaselineRecipe, ...]
    budgets: tuple[float, ...]  # fractions of the baseline cost, descending
    # NetAdapt: one run per (model, metric, seed) to the lowest budget, landing on the
    # others on the way (waypoints), so every budget's model comes from the same run.
    # Engine overrides (None = the engine's default):
    init_reduction_ratio: float | None
    prescreen: int | None  # fine-tune only the best K proposals of each iteration
    decay: float | None = None
    max_group_reduction: float | None = None
    # Short-term overrides (None = TrainingOptions' default):
    short_term_steps: int | None = None
    holdout: int | float | None = None
    # The same for every method: Adam, cosine decay from this rate, these epochs on the
    # whole training split, with augmentation.
    long_term_epochs: int = 1
    long_term_learning_rate: float = 3e-4
    batch_size: int = 64
    seed: int = 0
    # NetAdapt by which metrics (pareto_bench.points names; the A53 one needs the Arm lab)
    netadapt_variants: tuple[str, ...] = NETADAPT_METHODS
    netadapt_seeds: tuple[int, ...] = (0,)  # the latency run's seeds (the first is every run's)
    remeasure_rounds: int = 5  # interleaved latency passes over all final models
    workers: int | None = None  # NetAdapt proposal workers (default: one per core)
    bootstrap_resamples: int = 10_000
    train_images: int | None = None  # a stratified training subset (None: all; --train-images overrides)
    # 'digits' data at 32x32x3 (what the CIFAR models take) or at their own 8x8x1
    digits_at_cifar_size: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def recipe(self, label: str) -> BaselineRecipe:
        for recipe in self.models:
            if recipe.label == label or recipe.model == label:
                return recipe
        raise SystemExit(f"no model '{label}' in this plan; choose from "
                         f"{', '.join(r.model for r in self.models)}")


def _recipe(model: str, epochs: int, **kwargs: Any) -> BaselineRecipe:
    return BaselineRecipe(model=model, model_kwargs=tuple(sorted(kwargs.items())), epochs=epochs,
                          learning_rate=2e-3, batch_size=64, augment=True, seed=0)


FULL = Plan(
    # Trained from scratch on the whole training split (50,000 CIFAR-10 images): 15 epochs
    # are ~11,700 steps; the VGG took 76 min on the 2 shared cores (cached afterwards).
    models=(_recipe("vgg", 15), _recipe("mobilenet_v1", 15, alpha=0.5)),
    # 50% is the headline budget; 65% is where the 1.5x speed-up goal lies (1/1.5 = 0.667).
    budgets=(0.65, 0.5),
    # Steps of 5% of the baseline cost, kept constant (decay 1): the engine's defaults (the
    # paper's 2.5%, decaying by 0.96) take 2-3x the iterations, and one VGG iteration took
    # ~6 min on the shared 2 cores with them; the issue asks for steps no coarser than 5%.
    init_reduction_ratio=0.05,
    decay=1.0,
    # Score every proposal after BN re-estimation, fine-tune the best 2 (one per worker):
    # VGG has 6 prunable groups, MobileNetV1 14; fine-tuning all of them does not fit.
    prescreen=2,
    # 2,500 holdout images from the training split (the default 15% of 50,000 is 7,500):
    # scoring one VGG proposal on 7,500 took ~30 s here, and 2,500 still put one standard
    # error of a holdout accuracy near 85% at 0.7 point (ties within it go by loss).
    holdout=2500,
    netadapt_seeds=(0, 1),
)

# The CI smoke version of the whole pipeline, on scikit-learn's digits at their own 8x8
# size with the small digits CNN (4 prunable groups), so that the lookup tables have few
# layers to measure and callgrind and QEMU count small models. NetAdapt runs by measured
# latency and by MACs only: the instruction-driven runs are the latency run's code path
# with another agent, and all three agents still measure every final model. Its numbers
# mean nothing.
QUICK = replace(
    FULL,
    models=(_recipe("digits_cnn", 4),),
    netadapt_variants=(NETADAPT_LATENCY, NETADAPT_MACS),
    workers=1,
    budgets=(0.75, 0.5),
    init_reduction_ratio=0.25,
    prescreen=2,
    holdout=None,
    short_term_steps=5,
    long_term_epochs=1,
    netadapt_seeds=(0,),
    remeasure_rounds=2,
    bootstrap_resamples=1000,
    digits_at_cifar_size=False,
)


# Which NetAdapt variants and seeds run changes no point of the others, so an out directory
# takes more of them (its other points are reused); anything else needs a new one.
ADDABLE_PLAN_KEYS = ("netadapt_variants", "netadapt_seeds")


def check_out_dir(out: Path, settings: dict[str, Any]) -> None:
    """Refuse an out directory whose points came from another plan or data; then record
    `settings` (a plan, data digest and arm flag) as its plan."""
    path = out / "plan.json"
    if path.is_file() and _comparable(json.loads(path.read_text())) != _comparable(json.loads(json.dumps(settings))):
        raise SystemExit(f"{out} holds results of a different plan or data; pass a new --out")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2))


def _comparable(settings: dict[str, Any]) -> dict[str, Any]:
    plan = {k: v for k, v in settings.get("plan", {}).items() if k not in ADDABLE_PLAN_KEYS}
    return {**settings, "plan": plan}
