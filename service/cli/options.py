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
