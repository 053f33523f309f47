"""Runs inside the emulated aarch64 Python (qemu-aarch64 + the insn_count plugin):
invoke each model between two marker system calls, so the plugin counts exactly the
instructions of each invoke.

    qemu-aarch64 -cpu CORE -L PREFIX -plugin PLUGIN,out=COUNTS,marker=NR,cookie=C \
        PREFIX/usr/bin/python3.11 -I -S /opt/netadapt/agent/guest_runner.py \
        MODEL_DIR MANIFEST --marker NR --cookie C --invokes N --site SITE_DIR

setup-arm copies this file and model_inputs.py into the root filesystem
(/opt/netadapt/agent) and the aarch64 wheels into SITE_DIR; it imports nothing
else (every import costs seconds under emulation).

Marker: `syscall(NR, C, op, tag)`, op 1 = start, op 2 = stop. NR is a number the
kernel does not use, so the call returns -ENOSYS and has no effect; the plugin sees
it and writes "TAG COUNT" at each stop. Tags: model k, invoke i -> k * 1000 + i;
the empty marker pairs that measure the markers' own cost -> NULL_TAG_BASE + j.

What lies between the markers is the interpreter's C++ Invoke called through
pybind11 (`interpreter._interpreter.Invoke`, bound before the start marker) plus
the ctypes return and call of the markers themselves. Measured on cortex-a53: going
through `Interpreter.invoke()` instead (its Python-level safety check) made
steady invokes differ by ~1,500 instructions in 3.9 M; the direct call, with
garbage collection off, repeats to the instruction in one interpreter and within
~130 across interpreters. The markers' own cost (~3,300 instructions) is measured
by empty pairs and subtracted on the host.

MANIFEST gets one JSON line per model, flushed as it goes:
{"model": name, "tags": [tag per invoke]} or {"model": name, "error": message},
and first {"null_tags": [...]}.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import json
import os
import sys
from typing import Any, TextIO

OP_START, OP_STOP = 1, 2
NULL_TAG_BASE = 1_000_000_000
NULL_PAIRS = 5
MAX_INVOKES = 999


def invoke_tag(model_index: int, invoke: int) -> int:
    return model_index * 1000 + invoke


def _one_line(exc: BaseException) -> str:
    # model_inputs.one_line's twin: model_inputs imports numpy, found only once --site is on sys.path.
    return " ".join(str(exc).split())[:400] or type(exc).__name__


def _write(manifest: TextIO, entry: dict) -> None:
    manifest.write(json.dumps(entry) + "\n")
    manifest.flush()


class Markers:
    """start(tag) / stop(tag): the marker system calls, as C-level calls.

    functools.partial over a ctypes function with fixed argtypes: no Python frame and
    no per-call ctypes objects between the markers (a Python method that built
    c_ulong(tag) each time made counts wander by ~1,000 instructions).
    """

    def __init__(self, number: int, cookie: int) -> None:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
        syscall.restype = ctypes.c_long
        syscall.argtypes = (ctypes.c_long, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
        self.start = functools.partial(syscall, number, cookie, OP_START)
        self.stop = functools.partial(syscall, number, cookie, OP_STOP)


def _count(interpreter: Any, markers: Markers, model_index: int, invokes: int) -> dict:
    wrapper = getattr(interpreter, "_interpreter", None)
    call = getattr(wrapper, "Invoke", None) or interpreter.invoke
    start, stop = markers.start, markers.stop
    tags = []
    for i in range(invokes):
        tag = invoke_tag(model_index, i)
        start(tag)
        try:
            call()
        except Exception as exc:
            stop(tag)
            return {"error": f"invoke failed: {_one_line(exc)}"}
        stop(tag)
        tags.append(tag)
    return {"tags": tags}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("manifest")
    parser.add_argument("--marker", type=int, required=True)
    parser.add_argument("--cookie", type=int, required=True)
    parser.add_argument("--invokes", type=int, default=3)
    parser.add_argument("--site", default=None, help="directory with numpy and ai_edge_litert")
    args = parser.parse_args(argv)
    if not 1 <= args.invokes <= MAX_INVOKES:
        parser.error(f"--invokes must be within 1..{MAX_INVOKES}")
    if args.site:
        sys.path.insert(0, args.site)
    from ai_edge_litert.interpreter import Interpreter

    if __package__:
        from device_agent.backends.model_inputs import load_with_inputs
    else:  # run as a script (python -I: no script directory on sys.path); model_inputs.py lies beside
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from model_inputs import load_with_inputs  # type: ignore[import-not-found, no-redef]

    markers = Markers(args.marker, args.cookie)
    names = sorted(n for n in os.listdir(args.model_dir) if n.endswith(".tflite"))
    loaded = [(name, load_with_inputs(Interpreter, os.path.join(args.model_dir, name))) for name in names]
    gc.collect()
    gc.disable()  # a collection inside a marker pair would be counted
    with open(args.manifest, "w", encoding="utf-8") as manifest:
        null_tags = [NULL_TAG_BASE + j for j in range(NULL_PAIRS)]
        for tag in null_tags:
            markers.start(tag)
            markers.stop(tag)
        _write(manifest, {"null_tags": null_tags})
        for index, (name, interpreter) in enumerate(loaded):
            if isinstance(interpreter, str):
                _write(manifest, {"model": name, "error": interpreter})
            else:
                _write(manifest, {"model": name, **_count(interpreter, markers, index, args.invokes)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
