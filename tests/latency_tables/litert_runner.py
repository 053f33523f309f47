"""Run a .tflite once in LiteRT's interpreter (XNNPACK applies by default)."""

from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def invoke_once(model: bytes, seed: int = 0) -> list[np.ndarray]:
    """Random inputs in, outputs out."""
    rng = np.random.default_rng(seed)
    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        shape, dtype = detail["shape"], detail["dtype"]
        if dtype == np.int8:
            values = rng.integers(-128, 128, size=shape).astype(np.int8)
        else:
            values = rng.standard_normal(shape).astype(dtype)
        interpreter.set_tensor(detail["index"], values)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()]
