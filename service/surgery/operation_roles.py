"""What the supported `keras.ops` calls of a Functional graph do to the channel axis.

A Functional model built with arithmetic on tensors (`x + 3.0`, `keras.ops.maximum(x, y)`,
`keras.ops.hard_silu(x)`) holds those calls as *operation nodes*: instances of
`keras.src.ops` classes, without weights, serialised in config.json under their module
and class name. Keras' own MobileNetV3 writes its hard sigmoid this way
(`ReLU(6)(x + 3.0) * (1 / 6)`).

The supported ones all act elementwise, so they never mix channels:

- unary activations keep their input's channels;
- a binary op with one tensor and a constant keeps the tensor's channels when the
  constant is a scalar or has one entry along the channel axis; a per-channel constant is
  not sliced by pruning, so such an op freezes the channels it sees;
- a binary op of two tensors couples them like a merge layer (Add, Multiply, ...): both
  lose the same channel indices, and a one-channel operand broadcasts.

This module imports no Keras (the upload allow-list reads OPERATION_CLASSES).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import UnsupportedOperationError
from .layer_roles import Role

NUMPY_OPS_MODULE = "keras.src.ops.numpy"
NN_OPS_MODULE = "keras.src.ops.nn"

# (module, class) pairs. Each takes no configuration but its name, so a config.json entry
# of one of these classes carries no code and no parameters.
BINARY_OPERATIONS = frozenset(
    (NUMPY_OPS_MODULE, cls)
    for cls in ("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum")
)
UNARY_OPERATIONS = frozenset(
    (NN_OPS_MODULE, cls) for cls in ("Relu", "Relu6", "Sigmoid", "Silu", "HardSilu", "HardSigmoid")
)
OPERATION_CLASSES = BINARY_OPERATIONS | UNARY_OPERATIONS


def operation_class_name(operation: Any) -> str:
    """The qualified class of an operation node ('keras.src.ops.numpy.Add'): unambiguous
    beside layer classes of the same short name, and what config.json records."""
    return f"{type(operation).__module__}.{type(operation).__name__}"


def _channel_free(constant: Any, tensor_rank: int) -> bool:
    """Whether a constant operand broadcasts along the channel axis (one entry there)."""
    shape = np.shape(constant)
    return len(shape) <= tensor_rank and (len(shape) == 0 or shape[-1] == 1)


def classify_operation(
    operation: Any, tensor_ranks: Sequence[int], constants: Sequence[Any]
) -> tuple[Role, str | None]:
    """The role of an operation node, given the ranks of its tensor operands and its
    constant (non-tensor) operands; for a barrier, also why it must stay whole."""
    key = (type(operation).__module__, type(operation).__name__)
    name, cls = operation.name, operation_class_name(operation)
    if key not in OPERATION_CLASSES:
        raise UnsupportedOperationError(name, cls)
    for constant in constants:
        if isinstance(constant, (str, bytes)) or not np.issubdtype(np.asarray(constant).dtype, np.number):
            raise UnsupportedOperationError(name, cls, f"operand {constant!r} is not a number or array")
    if key in UNARY_OPERATIONS:
        return Role.PASS_THROUGH, None
    if len(tensor_ranks) == 2:
        return Role.MERGE, None
    if len(tensor_ranks) != 1 or len(constants) != 1:
        raise UnsupportedOperationError(
            name, cls, f"expected two operands, got {len(tensor_ranks)} tensors and {len(constants)} constants"
        )
    if _channel_free(constants[0], tensor_ranks[0]):
        return Role.PASS_THROUGH, None
    return Role.BARRIER, f"'{name}' ({cls}) applies a per-channel constant that pruning does not slice"
