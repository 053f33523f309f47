"""Assemble a one-operator TFLite flatbuffer with the schema's object API.

Mirrors the layout the converter writes: buffer 0 is the empty sentinel, activation
tensors have no data, constant data is 16-byte aligned, one `serving_default`
signature names the inputs and outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import flatbuffers
import numpy as np

from latency_tables.tflite_schema import FILE_IDENTIFIER, LAST_DEPRECATED_OP_CODE, OP_CODES, SCHEMA_VERSION, schema

# The converter aligns buffer data to 16 bytes (schema: force_align: 16); kernels and
# delegates may read weights in place, so keep the same guarantee.
BUFFER_ALIGNMENT = 16
SIGNATURE_KEY = "serving_default"
DESCRIPTION = "latency_tables single-op model"

_TENSOR_TYPES = {
    np.dtype(np.float32): schema.TensorType.FLOAT32,
    np.dtype(np.int8): schema.TensorType.INT8,
    np.dtype(np.int32): schema.TensorType.INT32,
    np.dtype(np.int64): schema.TensorType.INT64,
}


def tensor_type(dtype: Any) -> int:
    """The schema TensorType of a numpy dtype (float32, int8, int32, int64)."""
    try:
        return _TENSOR_TYPES[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"no TFLite tensor type for numpy dtype {dtype}") from None


class _AlignedBufferT(schema.BufferT):
    """A BufferT whose data vector starts on a BUFFER_ALIGNMENT boundary.

    The generated Pack() aligns uint8 data to 1 byte only.
    """

    def Pack(self, builder: flatbuffers.Builder) -> int:  # noqa: N802 (schema API name)
        data_offset = None
        if self.data is not None:
            payload = bytes(self.data)
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            builder.head -= len(payload)
            builder.Bytes[builder.head : builder.head + len(payload)] = payload
            data_offset = builder.EndVector()
        schema.BufferStart(builder)
        if data_offset is not None:
            schema.BufferAddData(builder, data_offset)
        return schema.BufferEnd(builder)


@dataclass(frozen=True)
class OperatorPlan:
    """The operator of the graph: its tensors (-1: omitted optional input) and options."""

    op: str
    version: int
    inputs: Sequence[int]
    outputs: Sequence[int]
    options_type: int = 0  # schema.BuiltinOptions.NONE
    options: Any = None


class SingleOpGraph:
    """Collects the tensors and buffers of a one-operator main subgraph."""

    def __init__(self) -> None:
        self._tensors: list[schema.TensorT] = []
        self._buffers: list[schema.BufferT] = [_AlignedBufferT()]
        self._inputs: list[int] = []
        self._outputs: list[int] = []

    def _add_tensor(self, name: str, shape: Sequence[int], type_code: int, buffer: int, quantization: Any) -> int:
        tensor = schema.TensorT()
        tensor.name = name
        tensor.shape = [int(d) for d in shape]
        tensor.type = type_code
        tensor.buffer = buffer
        tensor.quantization = quantization
        # Scalars need hasRank, or readers take shape [] for "unknown rank".
        tensor.hasRank = True
        self._tensors.append(tensor)
        return len(self._tensors) - 1

    def add_input(self, shape: Sequence[int], dtype: Any, quantization: Any = None) -> int:
        index = self._add_tensor(f"input_{len(self._inputs)}", shape, tensor_type(dtype), 0, quantization)
        self._inputs.append(index)
        return index

    def add_output(self, shape: Sequence[int], dtype: Any, quantization: Any = None) -> int:
        index = self._add_tensor(f"output_{len(self._outputs)}", shape, tensor_type(dtype), 0, quantization)
        self._outputs.append(index)
        return index

    def add_constant(self, name: str, values: np.ndarray, quantization: Any = None) -> int:
        # np.array, not np.ascontiguousarray: the latter turns scalars into shape (1,)
        values = np.array(values, order="C")
        buffer = _AlignedBufferT()
        buffer.data = values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes()
        self._buffers.append(buffer)
        return self._add_tensor(name, values.shape, tensor_type(values.dtype), len(self._buffers) - 1, quantization)

    def to_flatbuffer(self, plan: OperatorPlan) -> bytes:
        """Serialise the graph with `plan` as its only operator."""
        code = OP_CODES[plan.op]
        opcode = schema.OperatorCodeT()
        opcode.builtinCode = code
        opcode.deprecatedBuiltinCode = min(code, LAST_DEPRECATED_OP_CODE)
        opcode.version = plan.version

        operator = schema.OperatorT()
        operator.opcodeIndex = 0
        operator.inputs = list(plan.inputs)
        operator.outputs = list(plan.outputs)
        operator.builtinOptionsType = plan.options_type
        operator.builtinOptions = plan.options

        subgraph = schema.SubGraphT()
        subgraph.name = "main"
        subgraph.tensors = self._tensors
        subgraph.inputs = list(self._inputs)
        subgraph.outputs = list(self._outputs)
        subgraph.operators = [operator]

        model = schema.ModelT()
        model.version = SCHEMA_VERSION
        model.description = DESCRIPTION
        model.operatorCodes = [opcode]
        model.subgraphs = [subgraph]
        model.buffers = self._buffers
        model.signatureDefs = [self._signature_def()]

        size_hint = 1024 + sum(len(b.data) + BUFFER_ALIGNMENT for b in self._buffers if b.data is not None)
        builder = flatbuffers.Builder(size_hint)
        builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
        return bytes(builder.Output())

    def _signature_def(self) -> "schema.SignatureDefT":
        def tensor_map(index: int) -> "schema.TensorMapT":
            entry = schema.TensorMapT()
            entry.name = self._tensors[index].name
            entry.tensorIndex = index
            return entry

        signature = schema.SignatureDefT()
        signature.signatureKey = SIGNATURE_KEY
        signature.subgraphIndex = 0
        signature.inputs = [tensor_map(i) for i in self._inputs]
        signature.outputs = [tensor_map(i) for i in self._outputs]
        return signature
