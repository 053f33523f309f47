"""Signatures and one-op models the backend tests measure."""

from __future__ import annotations

from latency_tables import LayerSignature, build_single_op_model


def conv(channels: int, size: int = 28, out_channels: int | None = None) -> LayerSignature:
    return LayerSignature(
        op="CONV_2D",
        inputs=[(1, size, size, channels)],
        output=(1, size, size, out_channels or channels),
        kernel=(3, 3),
        stride=(1, 1),
        padding="SAME",
    )


def dense(inputs: int, outputs: int) -> LayerSignature:
    return LayerSignature(op="FULLY_CONNECTED", inputs=[(1, inputs)], output=(1, outputs))


def model(signature: LayerSignature) -> bytes:
    return build_single_op_model(signature)


NOT_A_MODEL = b"this is not a flatbuffer"
