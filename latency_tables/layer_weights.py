"""How many bytes of constant data (weights, biases, constant operands) one op reads.

The table's calibration (calibration.py) needs a model's weight bytes to model what a
lone layer never pays: reading weights that no longer fit in the cache. Derived from
the signature alone, so a candidate configuration has it without building the model.
Layouts follow op_builders (what the converter writes): CONV_2D filters OHWI,
DEPTHWISE_CONV_2D 1HW(C*multiplier), FULLY_CONNECTED [units, in], TRANSPOSE_CONV OHWI;
biases are float32 (float models) or int32 (int8 models), 4 bytes either way. Small
int32 parameters (axes, paddings, shapes) are left out.
"""

from __future__ import annotations

import math

from latency_tables.signature import LayerSignature

BIAS_BYTES = 4
_ITEM_BYTES = {"float32": 4, "int8": 1}


def weight_bytes(sig: LayerSignature) -> int:
    """Bytes of weights, bias and constant operands of `sig` (0 for ops without any)."""
    item = _ITEM_BYTES.get(sig.dtype, 4)
    out_channels = sig.output[-1]
    kernel = math.prod(sig.kernel) if sig.kernel is not None else 1
    if sig.op == "CONV_2D":
        in_channels = sig.inputs[0][-1] // (sig.groups or 1)
        weights = kernel * in_channels * out_channels
    elif sig.op == "DEPTHWISE_CONV_2D":
        weights = kernel * out_channels
    elif sig.op == "TRANSPOSE_CONV":
        weights = kernel * sig.inputs[0][-1] * out_channels
    elif sig.op == "FULLY_CONNECTED":
        weights = sig.inputs[0][-1] * out_channels
    else:
        return item * sum(math.prod(shape) for shape in (sig.const_inputs or ()))
    return item * weights + BIAS_BYTES * out_channels
