"""Build a one-operator .tflite for a LayerSignature, without TensorFlow."""

from __future__ import annotations

from latency_tables.op_builders import OP_BUILDERS, OpContext
from latency_tables.signature import LayerSignature

__all__ = ["build_single_op_model", "BUILDABLE_OPS"]

BUILDABLE_OPS: tuple[str, ...] = tuple(sorted(OP_BUILDERS))


def build_single_op_model(sig: LayerSignature, seed: int = 0) -> bytes:
    """A valid .tflite holding exactly the operator `sig` describes.

    Activation inputs become the model's inputs, the op's output its output; weights
    and other constants are random but deterministic in `seed` (the cost measured
    must not depend on them). The model loads and runs in LiteRT's interpreter
    (XNNPACK applies as usual) and reads back, through signatures_from_tflite, as
    [sig].
    """
    if not isinstance(sig, LayerSignature):
        raise TypeError(f"expected a LayerSignature, got {type(sig).__name__}")
    recipe = OP_BUILDERS.get(sig.op)
    if recipe is None:  # a spec without a recipe: a bug in this package, not the caller's
        raise ValueError(f"no builder for op {sig.op}; buildable: {', '.join(BUILDABLE_OPS)}")
    context = OpContext(sig, seed)
    plan = recipe(context)
    return context.graph.to_flatbuffer(plan)
