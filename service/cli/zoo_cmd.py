"""`netadapt zoo list|train`: baselines to prune, from the built-in model zoo."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from service.cli.options import add_data_arguments, data_spec
from service.pruning.options import DataSpec


def register(sub: argparse._SubParsersAction) -> None:
    zoo = sub.add_parser("zoo", help="built-in models")
    zsub = zoo.add_subparsers(dest="zoo_command", required=True, metavar="ACTION")
    lst = zsub.add_parser("list", help="list the zoo's models")
    lst.set_defaults(handler=run_list, needs_tensorflow=False)
    train = zsub.add_parser("train", help="train a zoo model from scratch as a baseline")
    train.add_argument("name", help="zoo model name (see `netadapt zoo list`)")
    add_data_arguments(train)
    train.add_argument("--out", type=Path, required=True, help="where to write model.keras")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--learning-rate", type=float, default=2e-3)
    train.add_argument("--augment", action="store_true", help="random flips and crops")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--alpha", type=float, default=None, help="width multiplier (MobileNets)")
    train.set_defaults(handler=run_train)


def run_list(args: argparse.Namespace) -> int:
    from service.zoo import ZOO

    for name, builder in ZOO.items():
        doc = (builder.__doc__ or "").strip().splitlines()[0] if builder.__doc__ else ""
        print(f"{name:14s} {doc}")
    return 0


def train_zoo_model(
    name: str,
    spec: DataSpec,
    out: Path,
    *,
    epochs: int,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    augment: bool = False,
    seed: int = 0,
    alpha: float | None = None,
) -> float:
    """Build zoo model `name` for the dataset, train it from scratch, save it to `out`
    (a .keras path); return its test accuracy."""
    from service.pruning.offline_run import RunInputError
    from service.training.datasets import load_dataset
    from service.training.export import save_keras
    from service.training.finetune import train
    from service.training.seeding import set_seeds
    from service.zoo import ZOO, build

    if name not in ZOO:
        raise RunInputError(f"unknown zoo model '{name}'; choose one of {', '.join(ZOO)}")
    if out.suffix != ".keras":
        raise RunInputError(f"--out must end in .keras, got {out}")
    dataset = load_dataset(spec.source, image_size=spec.image_size, channels=spec.channels)
    set_seeds(seed)
    kwargs: dict[str, Any] = {"input_shape": dataset.input_shape, "num_classes": dataset.num_classes}
    if alpha is not None:
        kwargs["alpha"] = alpha
    model = build(name, **kwargs)
    print(f"training {name} on {dataset!r} for {epochs} epochs ...", flush=True)
    summary = train(
        model, dataset, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
        augment=augment,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    save_keras(model, out)
    print(f"test accuracy {summary.test_accuracy:.4f} after {summary.seconds:.1f} s; saved {out}")
    return summary.test_accuracy


def run_train(args: argparse.Namespace) -> int:
    train_zoo_model(
        args.name, data_spec(args), args.out, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, augment=args.augment, seed=args.seed, alpha=args.alpha,
    )
    return 0
