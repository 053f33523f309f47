"""The vocabulary shared by the NetAdapt server and the device agents.

Layer signatures (what one TFLite operator's cost depends on), reading them from a
.tflite, and building a one-operator .tflite for a signature. Depends on numpy,
flatbuffers and LiteRT's schema only: never on TensorFlow or the server.
"""

from latency_tables.builder import BUILDABLE_OPS, build_single_op_model
from latency_tables.op_specs import SUPPORTED_OPS
from latency_tables.signature import LayerSignature
from latency_tables.tflite_model import op_summary, op_versions, signatures_from_tflite

__all__ = [
    "BUILDABLE_OPS",
    "SUPPORTED_OPS",
    "LayerSignature",
    "build_single_op_model",
    "op_summary",
    "op_versions",
    "signatures_from_tflite",
]
