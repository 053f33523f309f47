"""The arguments the tests build each service.zoo family with."""

from __future__ import annotations

from typing import Any

from service.zoo import ZOO

# Every family at its defaults, but MobileNetV1 at half width (a smaller graph to prune,
# convert and measure; the architecture is the same).
ZOO_TEST_KWARGS: dict[str, dict[str, Any]] = {name: {} for name in ZOO} | {"mobilenet_v1": {"alpha": 0.5}}
