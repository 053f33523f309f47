"""Command-line options shared by several subcommands."""

from __future__ import annotations

import argparse

from service.pruning.options import DataSpec


def _size(text: str) -> tuple[int, int]:
    try:
        if "x" in text:
            h, w = text.lower().split("x")
            return int(h), int(w)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size must be N or HxW, got {text!r}") from None


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        required=True,
        help="'digits' (built in), an .npz with x_train/y_train/x_test/y_test, or an image "
        "directory with train/<class>/ and test/<class>/",
    )
    parser.add_argument("--image-size", type=_size, default=None, help="resize images to N or HxW")
    parser.add_argument("--channels", type=int, choices=(1, 3), default=None)


def data_spec(args: argparse.Namespace) -> DataSpec:
    return DataSpec(args.data, args.image_size, args.channels)


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers like 0.75,0.6, got {text!r}"
        ) from None


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("NetAdapt schedule")
    g.add_argument("--init-reduction-ratio", type=float, default=0.025,
                   help="fraction of the baseline cost removed in the first iteration")
    g.add_argument("--decay", type=float, default=0.96, help="the step shrinks by this factor per iteration")
    g.add_argument("--max-iterations", type=int, default=100)
    g.add_argument("--channel-step", type=int, default=8, help="channel counts stay multiples of this")
    g.add_argument("--saliency", choices=("l1", "l2", "apoz"), default="l1")
    g.add_argument("--selection", choices=("max_accuracy", "min_drop_per_cost"), default="max_accuracy")
    g.add_argument("--waypoints", type=_float_list, default=(), metavar="B1,B2,...",
                   help="intermediate budgets (same kind as --budget, e.g. 0.75,0.6) that the run "
                   "lands on exactly on its way down; each is kept as an iteration model")


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    t = parser.add_argument_group("fine-tuning")
    t.add_argument("--short-term-steps", type=int, default=100, help="fine-tune steps per proposal")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--learning-rate", type=float, default=1e-3)
    t.add_argument("--holdout", type=float, default=0.15, help="fraction (<1) or count of training samples")
    t.add_argument("--long-term-epochs", type=int, default=10, help="final fine-tune epochs")
    t.add_argument("--long-term-learning-rate", type=float, default=3e-4)
    t.add_argument("--augment", action="store_true", help="random flips and crops while fine-tuning")
    t.add_argument("--seed", type=int, default=0)


ENGINE_FIELDS = ("init_reduction_ratio", "decay", "max_iterations", "channel_step", "saliency", "selection",
                 "waypoints")
TRAINING_FIELDS = ("short_term_steps", "batch_size", "learning_rate", "holdout", "long_term_epochs",
                   "long_term_learning_rate", "augment", "seed")


def engine_options(args: argparse.Namespace) -> dict[str, object]:
    return {name: getattr(args, name) for name in ENGINE_FIELDS}


def training_options(args: argparse.Namespace) -> dict[str, object]:
    return {name: getattr(args, name) for name in TRAINING_FIELDS}
