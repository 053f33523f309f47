from __future__ import annotations

import keras
import pytest

from service import zoo

from .exactness import randomize_batchnorm

APPLICATIONS = {
    "MobileNet": keras.applications.MobileNet,
    "MobileNetV2": keras.applications.MobileNetV2,
    "ResNet50": keras.applications.ResNet50,
    "EfficientNetB0": keras.applications.EfficientNetB0,
}

ZOO_SHAPES = {
    "digits_cnn": {},
    "mobilenet_v1": {"alpha": 0.5},
    "mobilenet_v2": {},
    "resnet20": {},
    "vgg": {},
    "unet": {},
}

ALL_MODELS = [f"zoo:{n}" for n in ZOO_SHAPES] + [f"app:{n}" for n in APPLICATIONS]


def build_model(key: str) -> keras.Model:
    kind, name = key.split(":")
    if kind == "zoo":
        model = zoo.build(name, **ZOO_SHAPES[name])
    else:
        # 64x64 keeps the test fast; the architecture is the same as at 224x224.
        model = APPLICATIONS[name](weights=None, input_shape=(64, 64, 3), classes=10)
    randomize_batchnorm(model)
    return model


@pytest.fixture(scope="module", params=ALL_MODELS)
def any_model(request) -> keras.Model:
    return build_model(request.param)
