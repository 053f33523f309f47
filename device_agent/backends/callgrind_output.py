"""Parse callgrind's output files: the event totals of one dump.

A dump's header names the events (`events: Ir ...`) and, since valgrind 3.x, carries
`summary:` (header) and `totals:` (end of file) lines with one number per event. With
the default options (no cache simulation) the only event is Ir: instructions executed.
"""

from __future__ import annotations

from pathlib import Path


class CallgrindFormatError(ValueError):
    pass


def event_totals(path: str | Path) -> dict[str, int]:
    """{event name: total} of one callgrind output file (`totals:`, else `summary:`)."""
    events: list[str] | None = None
    summary: list[int] | None = None
    totals: list[int] | None = None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("events:"):
                events = line.split(":", 1)[1].split()
            elif line.startswith("summary:"):
                summary = _numbers(line, path)
            elif line.startswith("totals:"):
                totals = _numbers(line, path)
    values = totals if totals is not None else summary
    if events is None or values is None:
        raise CallgrindFormatError(f"{path}: no 'events:' or no 'totals:'/'summary:' line")
    # Trailing zero events may be omitted from the lists.
    values = values + [0] * (len(events) - len(values))
    return dict(zip(events, values))


def instructions(path: str | Path) -> int:
    """Instructions executed (event Ir) in one dump."""
    totals = event_totals(path)
    if "Ir" not in totals:
        raise CallgrindFormatError(f"{path}: no Ir event (events: {', '.join(totals)})")
    return totals["Ir"]


def _numbers(line: str, path: str | Path) -> list[int]:
    try:
        return [int(v) for v in line.split(":", 1)[1].split()]
    except ValueError:
        raise CallgrindFormatError(f"{path}: malformed line {line.strip()!r}") from None
