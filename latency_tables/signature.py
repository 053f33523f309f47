"""LayerSignature: the canonical, hashable description of one TFLite operator.

A signature names what the cost of one operator depends on, as the TFLiteConverter
emits it for a Keras model: the builtin op, the shapes of its activation inputs
(batch included; weights are implied by the op and its options), its output shape,
the options that change the work done, and the dtype. Lookup-table entries are keyed
by `key` (canonical JSON) or `digest` (its sha256).

Canonical means: options an op does not have stay None and are left out of the JSON;
options it has are always present (defaults filled in); axes are non-negative. Two
signatures of the same layer therefore always produce the same key, and adding a new
optional field later does not change the keys of existing signatures.

`dtype` is the type of the op's first activation input. For QUANTIZE it separates
quantizing float32 input ("float32") from requantizing int8 input ("int8"); the
output of QUANTIZE is always int8 and that of DEQUANTIZE (dtype "int8") float32.
"""

from __future__ import annotations

import hashlib
import json
import operator
from dataclasses import dataclass, fields, replace
from typing import Any

from latency_tables import op_specs, shape_rules
from latency_tables.op_specs import ACTIVATIONS, DTYPES, OPTION_FIELDS, PADDINGS, REQUIRED

Shape = tuple[int, ...]
MAX_RANK = 6


@dataclass(frozen=True)
class LayerSignature:
    """One TFLite operator, as far as its cost is concerned. See the module docstring."""

    op: str
    inputs: tuple[Shape, ...]
    output: Shape
    dtype: str = "float32"
    kernel: tuple[int, int] | None = None  # (h, w)
    stride: tuple[int, int] | None = None  # (h, w)
    padding: str | None = None  # "SAME" | "VALID"
    dilation: tuple[int, int] | None = None  # (h, w)
    depth_multiplier: int | None = None
    groups: int | None = None
    activation: str | None = None  # fused activation: NONE, RELU, RELU6, ...
    axis: tuple[int, ...] | None = None  # CONCATENATION: one axis; reductions: axes
    keep_dims: bool | None = None
    paddings: tuple[tuple[int, int], ...] | None = None  # PAD: (before, after) per dim
    begin: tuple[int, ...] | None = None  # STRIDED_SLICE start per dim
    step: tuple[int, ...] | None = None  # STRIDED_SLICE stride per dim
    perm: tuple[int, ...] | None = None  # TRANSPOSE
    const_inputs: tuple[Shape, ...] | None = None  # constant operands (ADD/MUL with a constant, PRELU alpha)
    align_corners: bool | None = None
    half_pixel_centers: bool | None = None

    def __post_init__(self) -> None:
        spec = op_specs.op_spec(self.op)
        set_ = object.__setattr__  # frozen: normalise in place once, here
        inputs = _sequence(self.inputs, f"{self.op}: inputs")
        set_(self, "inputs", tuple(_shape(s, f"{self.op}: input") for s in inputs))
        set_(self, "output", _shape(self.output, f"{self.op}: output"))
        if self.dtype not in DTYPES:
            raise ValueError(f"{self.op}: dtype {self.dtype!r} is not one of {DTYPES}")
        if not spec.min_inputs <= len(self.inputs) <= spec.max_inputs:
            raise ValueError(
                f"{self.op}: takes {spec.min_inputs}..{spec.max_inputs} activation inputs, got {len(self.inputs)}"
            )
        for name in OPTION_FIELDS:
            value = getattr(self, name)
            if name not in spec.options:
                if value is not None:
                    raise ValueError(f"{self.op}: option {name!r} does not apply to this op (got {value!r})")
                continue
            if value is None:
                default = spec.options[name]
                if default is REQUIRED:
                    raise ValueError(f"{self.op}: option {name!r} is required")
                value = default
            set_(self, name, _NORMALISERS[name](self, value))
        if spec.operands is not None and len(self.inputs) + len(self.const_inputs or ()) != spec.operands:
            raise ValueError(
                f"{self.op}: needs {spec.operands} operands (activation inputs + const_inputs), "
                f"got {len(self.inputs)} + {len(self.const_inputs or ())}"
            )
        if self.op == "DEQUANTIZE" and self.dtype != "int8":
            raise ValueError("DEQUANTIZE: only int8 -> float32 is supported (dtype must be 'int8')")
        shape_rules.check_shapes(self)

    # ---- canonical forms -------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: lists for tuples, options that are None left out."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = _to_lists(value)
        return out

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace. Equal signatures give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LayerSignature":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown signature fields: {sorted(unknown)}")
        if "op" not in data or "inputs" not in data or "output" not in data:
            raise ValueError("a signature needs at least 'op', 'inputs' and 'output'")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str | bytes) -> "LayerSignature":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"signature JSON must be an object, got {type(data).__name__}")
        return cls.from_dict(data)

    @property
    def key(self) -> str:
        """The canonical string of this signature (its `to_json()`)."""
        return self.to_json()

    @property
    def digest(self) -> str:
        """sha256 hex digest of `key`: a fixed-length id for tables and file names."""
        return hashlib.sha256(self.key.encode("utf-8")).hexdigest()

    def with_changes(self, **changes: Any) -> "LayerSignature":
        """A validated copy with some fields replaced (e.g. fewer output channels)."""
        return replace(self, **changes)

    def __str__(self) -> str:
        return self.key


# ---- normalisation helpers -------------------------------------------------------


def _sequence(value: Any, what: str) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{what}: expected a sequence, got {value!r}")
    return tuple(value)


def _int(value: Any, what: str, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected an integer, got {value!r}")
    try:
        as_int = operator.index(value)  # accepts numpy integers, rejects floats
    except TypeError:
        raise ValueError(f"{what}: expected an integer, got {value!r}") from None
    if minimum is not None and as_int < minimum:
        raise ValueError(f"{what}: must be >= {minimum}, got {as_int}")
    return as_int


def _shape(value: Any, what: str) -> Shape:
    dims = tuple(_int(d, what, minimum=1) for d in _sequence(value, what))
    if len(dims) > MAX_RANK:
        raise ValueError(f"{what}: rank {len(dims)} exceeds the supported {MAX_RANK}")
    return dims


def _pair(sig: LayerSignature, name: str, value: Any) -> tuple[int, int]:
    pair = tuple(_int(v, f"{sig.op}: {name}", minimum=1) for v in _sequence(value, f"{sig.op}: {name}"))
    if len(pair) != 2:
        raise ValueError(f"{sig.op}: {name} must be an (h, w) pair, got {value!r}")
    return pair


def _choice(sig: LayerSignature, name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{sig.op}: {name} {value!r} is not one of {choices}")
    return value


def _bool(sig: LayerSignature, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{sig.op}: {name} must be a bool, got {value!r}")
    return value


def _axes(sig: LayerSignature, value: Any) -> tuple[int, ...]:
    rank = len(sig.inputs[0])
    raw = (value,) if not hasattr(value, "__iter__") else _sequence(value, f"{sig.op}: axis")
    axes = []
    for a in raw:
        a = _int(a, f"{sig.op}: axis")
        if not -rank <= a < rank:
            raise ValueError(f"{sig.op}: axis {a} out of range for rank {rank}")
        axes.append(a % rank)
    if not axes or len(set(axes)) != len(axes):
        raise ValueError(f"{sig.op}: axis must be non-empty and without repeats, got {value!r}")
    if sig.op == "CONCATENATION" and len(axes) != 1:
        raise ValueError(f"CONCATENATION: exactly one axis, got {value!r}")
    # reductions over {1, 2} and {2, 1} are the same op
    return tuple(sorted(axes))


def _paddings(sig: LayerSignature, value: Any) -> tuple[tuple[int, int], ...]:
    pairs = []
    for pair in _sequence(value, "PAD: paddings"):
        pair = tuple(_int(p, "PAD: paddings", minimum=0) for p in _sequence(pair, "PAD: paddings"))
        if len(pair) != 2:
            raise ValueError(f"PAD: paddings must be (before, after) pairs, got {value!r}")
        pairs.append(pair)
    return tuple(pairs)


def _ints(sig: LayerSignature, name: str, value: Any, minimum: int | None) -> tuple[int, ...]:
    return tuple(_int(v, f"{sig.op}: {name}", minimum) for v in _sequence(value, f"{sig.op}: {name}"))


def _step(sig: LayerSignature, value: Any) -> tuple[int, ...]:
    if value is None:
        return (1,) * len(sig.inputs[0])
    return _ints(sig, "step", value, minimum=1)


def _const_inputs(sig: LayerSignature, value: Any) -> tuple[Shape, ...] | None:
    if value is None:
        return None
    # A scalar constant has shape (): unlike activations, rank 0 is allowed here.
    shapes = tuple(
        tuple(_int(d, f"{sig.op}: const_inputs", minimum=1) for d in _sequence(s, f"{sig.op}: const_inputs"))
        for s in _sequence(value, f"{sig.op}: const_inputs")
    )
    return shapes or None


_NORMALISERS = {
    "kernel": lambda sig, v: _pair(sig, "kernel", v),
    "stride": lambda sig, v: _pair(sig, "stride", v),
    "dilation": lambda sig, v: _pair(sig, "dilation", v),
    "padding": lambda sig, v: _choice(sig, "padding", v, PADDINGS),
    "activation": lambda sig, v: _choice(sig, "activation", v, ACTIVATIONS),
    "depth_multiplier": lambda sig, v: _int(v, f"{sig.op}: depth_multiplier", minimum=1),
    "groups": lambda sig, v: _int(v, f"{sig.op}: groups", minimum=1),
    "axis": _axes,
    "keep_dims": lambda sig, v: _bool(sig, "keep_dims", v),
    "paddings": _paddings,
    "begin": lambda sig, v: _ints(sig, "begin", v, minimum=0),
    "step": _step,
    "perm": lambda sig, v: _ints(sig, "perm", v, minimum=0),
    "const_inputs": _const_inputs,
    "align_corners": lambda sig, v: _bool(sig, "align_corners", v),
    "half_pixel_centers": lambda sig, v: _bool(sig, "half_pixel_centers", v),
}


def _to_lists(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_lists(v) for v in value]
    return value
