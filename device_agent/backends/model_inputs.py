"""Random inputs for a LiteRT interpreter, one array per input tensor, and a model
loaded with them for the counting runners.

Imports numpy only: `_callgrind_runner.py` (under valgrind) and the emulated
`guest_runner.py` load this file from beside them, where every extra import costs
seconds of start-up.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def random_inputs(input_details: list[dict[str, Any]], seed: int = 0) -> list[tuple[int, np.ndarray]]:
    """(tensor index, array) for every input; values in a range each dtype tolerates.

    Values hardly matter for the cost of dense kernels, but they must be valid: integer
    inputs of whole models are often indices or lengths, so keep them small and >= 0.
    """
    rng = np.random.default_rng(seed)
    arrays = []
    for detail in input_details:
        shape = tuple(int(d) for d in detail["shape"])
        dtype = np.dtype(detail["dtype"])
        if dtype == np.bool_:
            values = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif dtype in (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int16)):
            info = np.iinfo(dtype)
            values = rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)
        elif np.issubdtype(dtype, np.integer):
            values = rng.integers(0, 8, size=shape).astype(dtype)
        elif np.issubdtype(dtype, np.floating):
            values = rng.standard_normal(shape).astype(dtype)
        else:
            raise ValueError(f"input {detail.get('name', detail['index'])!r}: unsupported dtype {dtype}")
        arrays.append((int(detail["index"]), values))
    return arrays


def fill_random_inputs(interpreter: Any, seed: int = 0) -> None:
    """Set every input tensor of an allocated interpreter to random values."""
    for index, values in random_inputs(interpreter.get_input_details(), seed):
        interpreter.set_tensor(index, values)


def one_line(exc: BaseException) -> str:
    """An error as one line of at most 400 characters, for a runner's manifest."""
    return " ".join(str(exc).split())[:400] or type(exc).__name__


def load_with_inputs(interpreter_class: Any, path: str) -> Any:
    """A one-thread interpreter of the .tflite at `path`, allocated, its inputs set, or
    the error message (a runner reports a model LiteRT rejects and counts the rest)."""
    try:
        with open(path, "rb") as handle:
            interpreter = interpreter_class(model_content=handle.read(), num_threads=1)
        interpreter.allocate_tensors()
        fill_random_inputs(interpreter)
        return interpreter
    except Exception as exc:
        return f"cannot load model in LiteRT: {one_line(exc)}"
