"""Read the operators of a .tflite file as LayerSignatures.

Only the main subgraph (index 0) is read, one signature per operator, in execution
order. Constant operands are recognised by their data buffer; which inputs are
activations is decided per op (e.g. TRANSPOSE_CONV's data is its third input).
"""

from __future__ import annotations

import os
from typing import Any, Callable, NamedTuple

import numpy as np

from latency_tables.op_specs import BINARY_OPS, OP_SPECS, POOL_OPS, REDUCE_OPS, RESIZE_OPS, op_registrar
from latency_tables.signature import LayerSignature
from latency_tables.tflite_schema import (
    ACTIVATION_NAMES,
    OP_NAMES,
    PADDING_NAMES,
    TENSOR_TYPE_NAMES,
    op_code_of,
    schema,
)

__all__ = [
    "ModelSource",
    "OpSummary",
    "load_model",
    "signatures_from_tflite",
    "op_summary",
    "op_versions",
    "tensor_dtypes",
]

ModelSource = bytes | bytearray | memoryview | str | os.PathLike
Shape = tuple[int, ...]

_DTYPE_NAMES = {schema.TensorType.FLOAT32: "float32", schema.TensorType.INT8: "int8"}
_INDEX_TYPES = (schema.TensorType.INT32, schema.TensorType.INT64)
_NUMPY_TYPES = {
    schema.TensorType.FLOAT32: np.float32,
    schema.TensorType.INT8: np.int8,
    schema.TensorType.INT32: np.int32,
    schema.TensorType.INT64: np.int64,
}


class OpSummary(NamedTuple):
    """One operator: its name, the shapes of all its given inputs (weights and other
    constants included, omitted optional inputs left out) and its first output's shape."""

    op: str
    inputs: tuple[Shape, ...]
    output: Shape


def load_model(data: ModelSource) -> "schema.ModelT":
    """Unpack a .tflite (bytes or a path) into the schema's object API."""
    if isinstance(data, (str, os.PathLike)):
        with open(data, "rb") as f:
            data = f.read()
    buffer = bytes(data)
    if len(buffer) < 8 or not schema.Model.ModelBufferHasIdentifier(buffer, 0):
        raise ValueError("not a TFLite flatbuffer (file identifier 'TFL3' missing)")
    return schema.ModelT.InitFromObj(schema.Model.GetRootAs(buffer, 0))


class _Operator:
    """One operator of the main subgraph, with access to its tensors and constants."""

    def __init__(self, model: "schema.ModelT", index: int) -> None:
        subgraph = model.subgraphs[0]
        self.model = model
        self.index = index
        self.raw = subgraph.operators[index]
        self.tensors = subgraph.tensors
        self.name = OP_NAMES.get(op_code_of(model.operatorCodes[self.raw.opcodeIndex]), "UNKNOWN")
        self.version = int(model.operatorCodes[self.raw.opcodeIndex].version)
        self.input_ids = [int(i) for i in self.raw.inputs]
        self.output_ids = [int(i) for i in self.raw.outputs]
        self.options = self.raw.builtinOptions

    def fail(self, message: str) -> ValueError:
        return ValueError(f"operator #{self.index} ({self.name}): {message}")

    def tensor(self, position: int) -> "schema.TensorT":
        if position >= len(self.input_ids) or self.input_ids[position] < 0:
            raise self.fail(f"input {position} is missing")
        return self.tensors[self.input_ids[position]]

    def shape(self, tensor: "schema.TensorT") -> Shape:
        return tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))

    def is_constant(self, tensor: "schema.TensorT") -> bool:
        data = self.model.buffers[tensor.buffer].data
        return data is not None and len(data) > 0

    def constant(self, position: int) -> np.ndarray:
        tensor = self.tensor(position)
        if not self.is_constant(tensor):
            raise self.fail(f"input {position} must be a constant (converted with a static shape?)")
        dtype = _NUMPY_TYPES.get(tensor.type)
        if dtype is None:
            raise self.fail(f"constant of type {TENSOR_TYPE_NAMES.get(tensor.type)} is not readable")
        raw = np.asarray(self.model.buffers[tensor.buffer].data, dtype=np.uint8).tobytes()
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(self.shape(tensor))

    def given_inputs(self) -> list["schema.TensorT"]:
        return [self.tensors[i] for i in self.input_ids if i >= 0]

    def output(self) -> "schema.TensorT":
        return self.tensors[self.output_ids[0]]

    def fused_activation(self) -> str:
        return ACTIVATION_NAMES[int(self.options.fusedActivationFunction)]

    def is_shape_arithmetic(self) -> bool:
        """SHAPE, or an op computing only on integer index tensors (dynamic-batch shape math)."""
        if self.name == "SHAPE":
            return True
        tensors = self.given_inputs() + [self.tensors[i] for i in self.output_ids]
        return all(t.type in _INDEX_TYPES for t in tensors)


# ---- per-op readers: which inputs are activations, and the options -------------------------

Reader = Callable[[_Operator], dict[str, Any]]
_READERS: dict[str, Reader] = {}  # op -> its reader; other ops: _data_only
_reads = op_registrar(_READERS)


def _first_input(op: _Operator) -> dict[str, Any]:
    return {"inputs": [op.shape(op.tensor(0))]}


def _window(op: _Operator) -> dict[str, Any]:
    o = op.options
    return {
        "stride": (o.strideH, o.strideW),
        "padding": PADDING_NAMES[o.padding],
        "activation": op.fused_activation(),
    }


@_reads("CONV_2D")
def _conv_2d(op: _Operator) -> dict[str, Any]:
    (c_out, kh, kw, c_per_group) = op.shape(op.tensor(1))
    c_in = op.shape(op.tensor(0))[3]
    if c_in % c_per_group:
        raise op.fail(f"filter depth {c_per_group} does not divide input channels {c_in}")
    return {
        **_first_input(op),
        **_window(op),
        "kernel": (kh, kw),
        "dilation": (op.options.dilationHFactor, op.options.dilationWFactor),
        "groups": c_in // c_per_group,
    }


@_reads("DEPTHWISE_CONV_2D")
def _depthwise_conv_2d(op: _Operator) -> dict[str, Any]:
    (_, kh, kw, _) = op.shape(op.tensor(1))
    return {
        **_first_input(op),
        **_window(op),
        "kernel": (kh, kw),
        "dilation": (op.options.dilationHFactor, op.options.dilationWFactor),
        "depth_multiplier": op.options.depthMultiplier,
    }


@_reads("TRANSPOSE_CONV")
def _transpose_conv(op: _Operator) -> dict[str, Any]:
    (_, kh, kw, _) = op.shape(op.tensor(1))
    return {"inputs": [op.shape(op.tensor(2))], **_window(op), "kernel": (kh, kw)}


@_reads("FULLY_CONNECTED")
def _fully_connected(op: _Operator) -> dict[str, Any]:
    return {**_first_input(op), "activation": op.fused_activation()}


@_reads(*POOL_OPS)
def _pool_2d(op: _Operator) -> dict[str, Any]:
    return {**_first_input(op), **_window(op), "kernel": (op.options.filterHeight, op.options.filterWidth)}


@_reads(*REDUCE_OPS)
def _reduce(op: _Operator) -> dict[str, Any]:
    return {
        **_first_input(op),
        "axis": [int(a) for a in op.constant(1).reshape(-1)],
        "keep_dims": bool(op.options.keepDims),
    }


@_reads(*BINARY_OPS)
def _binary(op: _Operator) -> dict[str, Any]:
    inputs: list[Shape] = []
    constants: list[Shape] = []
    for tensor in op.given_inputs():
        (constants if op.is_constant(tensor) else inputs).append(op.shape(tensor))
    if not inputs:
        raise op.fail("all operands are constants")
    fields: dict[str, Any] = {"inputs": inputs, "const_inputs": constants or None}
    if op.options is not None and hasattr(op.options, "fusedActivationFunction"):
        fields["activation"] = op.fused_activation()
    return fields


@_reads("PRELU")
def _prelu(op: _Operator) -> dict[str, Any]:
    return {**_first_input(op), "const_inputs": [op.shape(op.tensor(1))]}


@_reads("CONCATENATION")
def _concatenation(op: _Operator) -> dict[str, Any]:
    return {
        "inputs": [op.shape(t) for t in op.given_inputs()],
        "axis": [op.options.axis],
        "activation": op.fused_activation(),
    }


@_reads("PAD")
def _pad(op: _Operator) -> dict[str, Any]:
    return {**_first_input(op), "paddings": [tuple(int(v) for v in pair) for pair in op.constant(1)]}


@_reads(*RESIZE_OPS)
def _resize(op: _Operator) -> dict[str, Any]:
    return {
        **_first_input(op),
        "align_corners": bool(op.options.alignCorners),
        "half_pixel_centers": bool(op.options.halfPixelCenters),
    }


@_reads("STRIDED_SLICE")
def _strided_slice(op: _Operator) -> dict[str, Any]:
    o = op.options
    if o.ellipsisMask or o.newAxisMask or o.shrinkAxisMask or o.offset:
        raise op.fail("ellipsis, new-axis, shrink-axis masks and offset are not supported")
    shape = op.shape(op.tensor(0))
    begins, steps = op.constant(1).reshape(-1), op.constant(3).reshape(-1)
    begin = []
    for axis, (dim, start, step) in enumerate(zip(shape, begins, steps)):
        if step < 1:
            raise op.fail(f"negative or zero step {int(step)} is not supported")
        start = 0 if o.beginMask & (1 << axis) else int(start)
        start = start + dim if start < 0 else start
        begin.append(min(max(start, 0), dim - 1))
    return {**_first_input(op), "begin": begin, "step": [int(s) for s in steps]}


@_reads("TRANSPOSE")
def _transpose(op: _Operator) -> dict[str, Any]:
    return {**_first_input(op), "perm": [int(p) for p in op.constant(1).reshape(-1)]}


def _data_only(op: _Operator) -> dict[str, Any]:
    return _first_input(op)


# Ops with weights: (position of the data input, position of the weights).
_WEIGHTED = {"CONV_2D": (0, 1), "DEPTHWISE_CONV_2D": (0, 1), "FULLY_CONNECTED": (0, 1), "TRANSPOSE_CONV": (2, 1)}


def _dtype(op: _Operator) -> str:
    """float32 or int8, from the op's first activation input."""
    data_position, weights_position = _WEIGHTED.get(op.name, (0, None))
    tensor = op.tensor(data_position)
    dtype = _DTYPE_NAMES.get(tensor.type)
    if dtype is None:
        raise op.fail(f"{TENSOR_TYPE_NAMES.get(tensor.type, tensor.type)} input is not supported (float32 or int8)")
    if weights_position is not None and op.tensor(weights_position).type != tensor.type:
        # float activations with int8 weights: dynamic-range ("hybrid") quantization,
        # whose kernels cost something else than both float32 and int8 ones
        weights_type = TENSOR_TYPE_NAMES.get(op.tensor(weights_position).type)
        raise op.fail(f"{weights_type} weights with {dtype} input (hybrid quantization) are not supported")
    if op.name == "QUANTIZE" and op.output().type != schema.TensorType.INT8:
        raise op.fail("only quantization to int8 is supported")
    return dtype


def _signature_of(op: _Operator) -> LayerSignature:
    if op.name not in OP_SPECS:
        raise op.fail(f"op is not supported; supported: {', '.join(sorted(OP_SPECS))}")
    fields = _READERS.get(op.name, _data_only)(op)
    try:
        return LayerSignature(op=op.name, output=op.shape(op.output()), dtype=_dtype(op), **fields)
    except ValueError as error:
        raise op.fail(str(error)) from None


def signatures_from_tflite(data: ModelSource, *, skip_shape_arithmetic: bool = False) -> list[LayerSignature]:
    """One LayerSignature per operator of the main subgraph, in execution order.

    A model converted with a dynamic batch size computes some shapes at run time
    (SHAPE, STRIDED_SLICE/PACK on int32 tensors, e.g. for Flatten or Conv2DTranspose).
    Those ops raise ValueError unless `skip_shape_arithmetic` is set, in which case
    they are left out: convert with a fixed batch size to get a model that is all
    layers.
    """
    model = load_model(data)
    signatures = []
    for index in range(len(model.subgraphs[0].operators)):
        op = _Operator(model, index)
        if op.is_shape_arithmetic():
            if skip_shape_arithmetic:
                continue
            raise op.fail(
                "run-time shape arithmetic (dynamic batch size?): convert with a fixed batch size, "
                "or pass skip_shape_arithmetic=True"
            )
        signatures.append(_signature_of(op))
    return signatures


def op_summary(data: ModelSource) -> list[OpSummary]:
    """(op name, shapes of all given inputs, output shape) for each main-subgraph operator."""
    model = load_model(data)
    summary = []
    for index in range(len(model.subgraphs[0].operators)):
        op = _Operator(model, index)
        summary.append(OpSummary(op.name, tuple(op.shape(t) for t in op.given_inputs()), op.shape(op.output())))
    return summary


def op_versions(data: ModelSource) -> list[tuple[str, int]]:
    """(op name, OperatorCode version) for each main-subgraph operator."""
    model = load_model(data)
    return [(op.name, op.version) for op in (_Operator(model, i) for i in range(len(model.subgraphs[0].operators)))]


def tensor_dtypes(data: ModelSource) -> list[tuple[str, tuple[str, ...], str]]:
    """(op name, input tensor types, output tensor type) per operator; for tests and debugging."""
    model = load_model(data)
    rows = []
    for index in range(len(model.subgraphs[0].operators)):
        op = _Operator(model, index)
        rows.append(
            (
                op.name,
                tuple(TENSOR_TYPE_NAMES[t.type] for t in op.given_inputs()),
                TENSOR_TYPE_NAMES[op.output().type],
            )
        )
    return rows
