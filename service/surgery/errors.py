"""Errors raised by structural pruning; each names what is wrong and what to change."""

from __future__ import annotations

from typing import ClassVar

from service.netadapt.errors import UserError


class SurgeryError(UserError, ValueError):
    """Base class: the model cannot be analysed or pruned as asked."""


class UnsupportedModelError(SurgeryError):
    """The model as a whole is of a kind we cannot analyse (subclassed, nested, unbuilt)."""


class UnsupportedNodeError(Exception):
    """Base class: one node of the model's graph (a layer, or a keras.ops call) that a step
    cannot handle. The message names the node and its class, why, and the way out."""

    node_kind: ClassVar[str] = "layer"
    cannot: ClassVar[str]  # what the step cannot do with the node
    remedy: ClassVar[str]  # what the user can change

    def __init__(self, layer_name: str, class_name: str, reason: str = "") -> None:
        self.layer_name = layer_name
        self.class_name = class_name
        detail = f": {reason}" if reason else ""
        super().__init__(f"{self.node_kind} '{layer_name}' of class {class_name} {self.cannot}{detail}. {self.remedy}")


class UnsupportedLayerError(UnsupportedNodeError, SurgeryError):
    """A layer whose channel behaviour we do not know."""

    cannot = "is not supported for structural pruning"
    remedy = "Replace it with a supported built-in layer, or remove it before pruning."


class UnsupportedOperationError(UnsupportedLayerError):
    """A `keras.ops` call in a Functional graph (an operation node, not a layer) whose
    channel behaviour we do not know."""

    node_kind = "operation"
    cannot = "(a keras.ops call in the model's graph) is not supported for structural pruning"
    remedy = (
        "Write it with supported elementwise ops (add, subtract, multiply, divide, maximum, minimum) "
        "or built-in layers, or remove it before pruning."
    )


class InvalidKeepError(SurgeryError):
    """A `keep` mapping that names an unknown or frozen group or bad channel indices."""
