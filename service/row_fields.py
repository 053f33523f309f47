"""Records and response bodies filled from a database row's attributes of the same names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def same_named(row: object, names: Iterable[str], **given: Any) -> dict[str, Any]:
    """Keyword arguments for a record: the `given` values, and for every other name in
    `names` the row's attribute of that name (an AttributeError names a missing one)."""
    return {**{name: getattr(row, name) for name in names if name not in given}, **given}
