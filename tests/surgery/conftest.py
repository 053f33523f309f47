from __future__ import annotations

import functools

import keras
import pytest

from service import zoo
from tests.helpers.zoo_models import ZOO_TEST_KWARGS

from .exactness import randomize_batchnorm

# name -> (constructor, input side). 64x64 keeps the older models fast; the architecture is
# the same as at 224x224. The MobileNetV3s (keras.ops operation nodes: hard sigmoid, SE
# gates) and EfficientNetV2B0 have the largest graphs: 32x32 and fewer keep sets (below).
APPLICATIONS = {
    "MobileNet": (keras.applications.MobileNet, 64),
    "MobileNetV2": (keras.applications.MobileNetV2, 64),
    "ResNet50": (keras.applications.ResNet50, 64),
    "EfficientNetB0": (keras.applications.EfficientNetB0, 64),
    "MobileNetV3Small": (keras.applications.MobileNetV3Small, 32),
    "MobileNetV3Large": (keras.applications.MobileNetV3Large, 32),
    "EfficientNetV2B0": (keras.applications.EfficientNetV2B0, 32),
}

ALL_MODELS = [f"zoo:{n}" for n in ZOO_TEST_KWARGS] + [f"app:{n}" for n in APPLICATIONS]

# (fraction kept, seed) per exactness check. Each check of a large graph costs seconds
# (prune, clone, two forward passes), so the largest models get two.
KEEP_SETS = ((0.5, 0), (0.75, 1), (0.2, 2))
FEW_KEEP_SETS = ((0.5, 0), (0.2, 2))
LARGE_GRAPHS = {"app:MobileNetV3Small", "app:MobileNetV3Large", "app:EfficientNetV2B0"}


def keep_sets(key: str) -> tuple[tuple[float, int], ...]:
    return FEW_KEEP_SETS if key in LARGE_GRAPHS else KEEP_SETS


@functools.lru_cache(maxsize=1)  # consecutive tests of one model share it (none modifies it)
def build_model(key: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    kind, name = key.split(":")
    if kind == "zoo":
        model = zoo.build(name, **ZOO_TEST_KWARGS[name])
    else:
        # Logits, not softmax: a saturated softmax would hide differences.
        constructor, side = APPLICATIONS[name]
        model = constructor(
            weights=None, input_shape=(side, side, 3), classes=10, classifier_activation=None
        )
    randomize_batchnorm(model)
    return model


@pytest.fixture(scope="module", params=ALL_MODELS)
def any_model(request) -> keras.Model:
    return build_model(request.param)
