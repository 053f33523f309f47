"""The TFLite flatbuffer schema, as LiteRT ships it, plus name <-> code tables.

Every other module reaches the schema through here, so a rename of the generated
module in a future LiteRT release is a one-line fix.
"""

from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

__all__ = [
    "schema",
    "FILE_IDENTIFIER",
    "SCHEMA_VERSION",
    "OP_NAMES",
    "OP_CODES",
    "TENSOR_TYPE_NAMES",
    "ACTIVATION_NAMES",
    "ACTIVATION_CODES",
    "PADDING_NAMES",
    "PADDING_CODES",
    "LAST_DEPRECATED_OP_CODE",
    "op_code_of",
]

FILE_IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3


def _enum_table(enum_class: type) -> dict[str, int]:
    return {k: v for k, v in vars(enum_class).items() if not k.startswith("_") and isinstance(v, int)}


OP_CODES: dict[str, int] = _enum_table(schema.BuiltinOperator)
OP_NAMES: dict[int, str] = {v: k for k, v in OP_CODES.items()}
TENSOR_TYPE_NAMES: dict[int, str] = {v: k for k, v in _enum_table(schema.TensorType).items()}
ACTIVATION_CODES: dict[str, int] = _enum_table(schema.ActivationFunctionType)
ACTIVATION_NAMES: dict[int, str] = {v: k for k, v in ACTIVATION_CODES.items()}
PADDING_CODES: dict[str, int] = _enum_table(schema.Padding)
PADDING_NAMES: dict[int, str] = {v: k for k, v in PADDING_CODES.items()}

# `deprecated_builtin_code` is an int8 field: codes above it are stored in
# `builtin_code` and the old field holds this placeholder.
LAST_DEPRECATED_OP_CODE = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES


def op_code_of(operator_code: "schema.OperatorCodeT") -> int:
    """The real builtin code of an OperatorCode table.

    Old files only fill `deprecated_builtin_code` (and leave `builtin_code` at 0),
    new files fill both and put the placeholder in the old field for codes > 127:
    the larger of the two is the true code in both cases.
    """
    return max(int(operator_code.builtinCode), int(operator_code.deprecatedBuiltinCode))
