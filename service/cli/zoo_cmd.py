"""`netadapt zoo list|train`: baselines to prune, from the built-in model zoo."""

from __future__ import annotations

import argparse
from pathlib import Path

from service.cli.options import add_data_arguments, data_spec


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


def run_train(args: argparse.Namespace) -> int:
    from service.pruning.offline_run import RunInputError
    from service.training.datasets import load_dataset
    from service.training.export import save_keras
    from service.training.finetune import train
    from service.training.seeding import set_seeds
    from service.zoo import ZOO, build

    if args.name not in ZOO:
        raise RunInputError(f"unknown zoo model '{args.name}'; choose one of {', '.join(ZOO)}")
    if args.out.suffix != ".keras":
        raise RunInputError(f"--out must end in .keras, got {args.out}")
    spec = data_spec(args)
    dataset = load_dataset(spec.source, image_size=spec.image_size, channels=spec.channels)
    set_seeds(args.seed)
    kwargs = {"input_shape": dataset.input_shape, "num_classes": dataset.num_classes}
    if args.alpha is not None:
        kwargs["alpha"] = args.alpha
    model = build(args.name, **kwargs)
    print(f"training {args.name} on {dataset!r} for {args.epochs} epochs ...", flush=True)
    summary = train(
        model,
        dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        augment=args.augment,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_keras(model, args.out)
    print(
        f"test accuracy {summary.test_accuracy:.4f} after {summary.seconds:.1f} s; "
        f"saved {args.out}"
    )
    return 0
