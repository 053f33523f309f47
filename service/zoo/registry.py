"""Name -> model builder, so the CLI, demo and benchmarks can pick a model by string."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from service.zoo.digits_cnn import digits_cnn
from service.zoo.mobilenet_v1 import mobilenet_v1
from service.zoo.mobilenet_v2 import mobilenet_v2
from service.zoo.resnet20 import resnet20
from service.zoo.unet import unet
from service.zoo.vgg import vgg

ZOO: dict[str, Callable[..., keras.Model]] = {
    "digits_cnn": digits_cnn,
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
    "resnet20": resnet20,
    "vgg": vgg,
    "unet": unet,
}


def build(name: str, **kwargs: Any) -> keras.Model:
    """Build zoo model `name` with the builder's keyword arguments (input_shape, ...)."""
    try:
        builder = ZOO[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; valid names are: {', '.join(sorted(ZOO))}"
        ) from None
    return builder(**kwargs)
