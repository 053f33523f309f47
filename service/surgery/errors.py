"""Errors raised by structural pruning; each names what is wrong and what to change."""

from __future__ import annotations

from service.netadapt.errors import UserError


class SurgeryError(UserError, ValueError):
    """Base class: the model cannot be analysed or pruned as asked."""


class UnsupportedModelError(SurgeryError):
    """The model as a whole is of a kind we cannot analyse (subclassed, nested, unbuilt)."""


class UnsupportedLayerError(SurgeryError):
    """A layer whose channel behaviour we do not know."""

    def __init__(self, layer_name: str, class_name: str, reason: str = "") -> None:
        self.layer_name = layer_name
        self.class_name = class_name
        detail = f": {reason}" if reason else ""
        super().__init__(
            f"layer '{layer_name}' of class {class_name} is not supported for structural "
            f"pruning{detail}. Replace it with a supported built-in layer, or remove it "
            "before pruning."
        )


class UnsupportedOperationError(UnsupportedLayerError):
    """A `keras.ops` call in a Functional graph (an operation node, not a layer) whose
    channel behaviour we do not know."""

    def __init__(self, node_name: str, class_name: str, reason: str = "") -> None:
        self.layer_name = node_name
        self.class_name = class_name
        detail = f": {reason}" if reason else ""
        SurgeryError.__init__(
            self,
            f"operation '{node_name}' of class {class_name} (a keras.ops call in the model's "
            f"graph) is not supported for structural pruning{detail}. Write it with supported "
            "elementwise ops (add, subtract, multiply, divide, maximum, minimum) or built-in "
            "layers, or remove it before pruning.",
        )


class InvalidKeepError(SurgeryError):
    """A `keep` mapping that names an unknown or frozen group or bad channel indices."""
