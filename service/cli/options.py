"""Command-line options shared by several subcommands."""

from __future__ import annotations

import argparse
import os

from service import run_options
from service.pruning.options import DataSpec
from service.run_options import add_cli_arguments, cli_values


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


def add_budget_arguments(parser: argparse.ArgumentParser, budget_help: str) -> None:
    parser.add_argument("--budget", type=float, required=True, help=budget_help)
    parser.add_argument("--absolute-budget", action="store_true", help="--budget is a cost, not a fraction")


def budget_kind(args: argparse.Namespace) -> str:
    """The budget_kind of --budget: 'absolute' with --absolute-budget, else 'ratio'."""
    return "absolute" if args.absolute_budget else "ratio"


def add_measuring_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the measured metrics (latency_ms, instructions) are measured."""
    group = parser.add_argument_group("measured metrics")
    group.add_argument("--server", default=None, help="lookup-table server URL (netadapt serve)")
    group.add_argument("--device", default=None, help="device profile id on that server")
    group.add_argument("--api-token", default=os.environ.get("NETADAPT_API_TOKEN"),
                       help="the server's API token (default: $NETADAPT_API_TOKEN)")


def data_spec(args: argparse.Namespace) -> DataSpec:
    return DataSpec(args.data, args.image_size, args.channels)


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    add_cli_arguments(parser.add_argument_group("NetAdapt schedule"), run_options.engine_options())


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    add_cli_arguments(parser.add_argument_group("fine-tuning"), run_options.training_options())


def engine_options(args: argparse.Namespace) -> dict[str, object]:
    """The engine options given on the command line (the rest keep their defaults)."""
    return cli_values(args, run_options.engine_options())


def training_options(args: argparse.Namespace) -> dict[str, object]:
    """The training options given on the command line (the rest keep their defaults)."""
    return cli_values(args, run_options.training_options())
