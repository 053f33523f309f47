"""The callgrind output parser, on the header/footer layout valgrind 3.x writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_agent.backends.callgrind_output import CallgrindFormatError, event_totals, instructions

DUMP = """# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 4242
cmd:  python runner.py
part: 3

desc: I1 cache:
desc: Trigger: --dump-after=tflite::interpreter_wrapper::InterpreterWrapper::Invoke(int)

positions: line
events: Ir
summary: 2096590

ob=(1) /lib/libfoo.so
fl=(1) ???
fn=(1) f
0 2096590

totals: 2096590
"""


def test_reads_the_total_instructions(tmp_path: Path) -> None:
    path = tmp_path / "callgrind.out.3"
    path.write_text(DUMP)
    assert instructions(path) == 2_096_590


def test_several_events_and_omitted_trailing_zeros(tmp_path: Path) -> None:
    path = tmp_path / "callgrind.out.1"
    path.write_text("events: Ir Dr Dw\nsummary: 10 4\n")
    assert event_totals(path) == {"Ir": 10, "Dr": 4, "Dw": 0}


def test_a_truncated_dump_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "callgrind.out.2"
    path.write_text("# callgrind format\nevents: Ir\n")
    with pytest.raises(CallgrindFormatError):
        instructions(path)
