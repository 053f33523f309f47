"""Keras 3 Functional models with readable layer names, for tests, demos and benchmarks."""

from service.zoo.digits_cnn import digits_cnn
from service.zoo.mobilenet_v1 import mobilenet_v1
from service.zoo.mobilenet_v2 import mobilenet_v2
from service.zoo.registry import ZOO, build
from service.zoo.resnet20 import resnet20
from service.zoo.unet import unet
from service.zoo.vgg import vgg

__all__ = [
    "ZOO",
    "build",
    "digits_cnn",
    "mobilenet_v1",
    "mobilenet_v2",
    "resnet20",
    "unet",
    "vgg",
]
