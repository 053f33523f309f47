"""Options shared by env.py (migrations) and the model/migration comparison."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from latency_tables.db import UTCDateTime, is_sqlite


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write UTCDateTime as the plain DateTime it stores, so revisions import only sqlalchemy."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    # SQLite's own bookkeeping table is not ours.
    return not (type_ == "table" and name is not None and name.startswith("sqlite_"))


def configure_options(connection: Connection) -> dict[str, Any]:
    return {
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        "render_as_batch": is_sqlite(connection),
        "compare_type": True,
        "compare_server_default": False,
        "render_item": render_item,
        "include_name": include_name,
    }
