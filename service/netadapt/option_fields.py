"""Run options declared once: a dataclass field that carries its meaning, bounds and choices.

`option(...)` is a `dataclasses.field` whose metadata holds an `OptionInfo`. The checks
below read it, and service/run_options.py derives the REST schema, the CLI flags and the
dashboard labels from it, so an option is added by adding one field. Stdlib only: the
engine's own config uses it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import operator
import typing
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any

INFO_KEY = "run_option"


@dataclass(frozen=True)
class OptionInfo:
    """What users are told about one option, and the values it accepts."""

    help: str  # what the option means: REST description, CLI help, dashboard tooltip
    label: str = ""  # short name for tables; default: the field name in words
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    choices: tuple[str, ...] = ()
    hint: str = ""  # how to fix a refused value, appended to the error message
    max_items: int | None = None  # list options
    metavar: str | None = None  # CLI placeholder

    def range_text(self) -> str:
        """The accepted interval, e.g. "in (0, 1]" or ">= 1"; "" when unbounded."""
        low = (f"({_num(self.gt)}", f"> {_num(self.gt)}") if self.gt is not None else None
        low = low or ((f"[{_num(self.ge)}", f">= {_num(self.ge)}") if self.ge is not None else None)
        high = (f"{_num(self.lt)})", f"< {_num(self.lt)}") if self.lt is not None else None
        high = high or ((f"{_num(self.le)}]", f"<= {_num(self.le)}") if self.le is not None else None)
        if low and high:
            return f"in {low[0]}, {high[0]}"
        return (low or high or ("", ""))[1]

    def accepts(self, value: float) -> bool:
        return not (
            (self.gt is not None and not value > self.gt)
            or (self.ge is not None and not value >= self.ge)
            or (self.lt is not None and not value < self.lt)
            or (self.le is not None and not value <= self.le)
        )


def option(default: Any = MISSING, *, help: str, **info: Any) -> Any:
    """A dataclass field declaring a run option; `info` are OptionInfo's other fields."""
    metadata = {INFO_KEY: OptionInfo(help=help, **info)}
    if isinstance(default, list):
        raise TypeError("give list defaults as tuples (fields are immutable)")
    return dataclasses.field(default=default, metadata=metadata)


def info_of(field: dataclasses.Field[Any]) -> OptionInfo:
    info = field.metadata.get(INFO_KEY)
    if not isinstance(info, OptionInfo):
        raise TypeError(f"field {field.name!r} is not declared with option(...)")
    return info


def default_of(field: dataclasses.Field[Any]) -> Any:
    """The field's default, MISSING when it is required."""
    if field.default_factory is not MISSING:
        return field.default_factory()
    return field.default


@functools.cache
def value_types(cls: type) -> dict[str, type]:
    """Each field's value type: float, int, bool, str, or tuple (a list of floats)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, type] = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        origin = typing.get_origin(hint)
        if origin is typing.Literal:
            out[field.name] = str
        elif origin is tuple:
            out[field.name] = tuple
        elif hint in (float, int, bool, str):
            out[field.name] = hint
        else:
            raise TypeError(f"{cls.__name__}.{field.name}: option type {hint!r} is not supported")
    return out


def coerce_types(instance: Any) -> None:
    """Check each field's type; floats become float (1 and 1.0 give equal settings, and
    the same checkpoint), integers int, lists tuples (hashable, equal to the saved one)."""
    cls: type = type(instance)  # type(Any) reads as unhashable to mypy
    for name, kind in value_types(cls).items():
        value = getattr(instance, name)
        object.__setattr__(instance, name, _coerced(name, kind, value, info_of(_field(instance, name))))


def check_values(instance: Any) -> None:
    """Check bounds and choices of every field, with a message naming it."""
    for field in dataclasses.fields(instance):
        info, value = info_of(field), getattr(instance, field.name)
        suffix = f"; {info.hint}" if info.hint else ""
        if info.choices and value not in info.choices:
            raise ValueError(f"{field.name} must be one of {info.choices}, got {value!r}{suffix}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not info.accepts(value):
            raise ValueError(f"{field.name} must be {info.range_text()}, got {value!r}{suffix}")
        if info.max_items is not None and isinstance(value, tuple) and len(value) > info.max_items:
            raise ValueError(f"{field.name} takes at most {info.max_items} values, got {len(value)}")


def to_saved_dict(instance: Any, saved_by_every_version: Iterable[str]) -> dict[str, Any]:
    """Plain JSON (equal to itself after a save and load), without the fields that older
    versions did not have while they are at their default: settings, checkpoints and
    request fingerprints saved before an option existed still compare equal, so runs
    resume and idempotent retries match across an upgrade."""
    data = {f.name: _plain(getattr(instance, f.name)) for f in dataclasses.fields(instance)}
    return without_new_defaults(data, field_defaults(type(instance)), saved_by_every_version)


def field_defaults(cls: type) -> dict[str, Any]:
    """Each optional field's default, by name."""
    out = {f.name: default_of(f) for f in dataclasses.fields(cls)}
    return {name: value for name, value in out.items() if value is not MISSING}


def without_new_defaults(
    data: dict[str, Any], defaults: Mapping[str, Any], saved_by_every_version: Iterable[str]
) -> dict[str, Any]:
    """`data` (plain JSON values) without the entries missing from `saved_by_every_version`
    whose value is their default."""
    always = set(saved_by_every_version)
    return {
        name: value
        for name, value in data.items()
        if name in always or name not in defaults or value != _plain(defaults[name])
    }


def from_saved_dict(cls: type, data: dict[str, Any], what: str) -> Any:
    """`cls(**data)`, refusing unknown and missing names with a message listing them."""
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown}; known {what}s are {sorted(known)}")
    required = [f.name for f in dataclasses.fields(cls) if default_of(f) is MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ValueError(f"{what}s need {', '.join(repr(m) for m in missing)}")
    return cls(**data)


def as_float(name: str, value: Any) -> float:
    # bool is an int subclass; True as a budget is always a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _coerced(name: str, kind: type, value: Any, info: OptionInfo) -> Any:
    if kind is float:
        return as_float(name, value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        return operator.index(value)
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        return value
    # A list of numbers; the items are checked by the class (they depend on other fields).
    if not isinstance(value, (list, tuple)):
        hint = f"; {info.hint}" if info.hint else ""
        raise ValueError(f"{name} must be a list, got {value!r}{hint}")
    return tuple(value)


def _field(instance: Any, name: str) -> dataclasses.Field[Any]:
    return next(f for f in dataclasses.fields(instance) if f.name == name)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
