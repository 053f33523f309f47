"""Run under valgrind/callgrind by host_instructions: invoke each model, note its dumps.

    valgrind --tool=callgrind [--instr-atstart=no] --collect-atstart=no \
        --toggle-collect=SYM --dump-after=SYM --callgrind-out-file=DUMP_DIR/callgrind.out \
        python _callgrind_runner.py MODEL_DIR DUMP_DIR MANIFEST [--invokes N] \
        [--instrument-with callgrind_control]

SYM is the interpreter's C++ Invoke, so callgrind counts exactly the instructions of
each invoke() and writes one dump file when it returns. Loading, allocating and
setting inputs happen outside Invoke and are not counted.

--instrument-with: valgrind was started with instrumentation off, which runs Python's
start-up, the imports and model loading ~3x faster (measured: a batch process 10 s ->
5 s). All models are loaded first; then this process asks callgrind_control to switch
instrumentation on for its own pid (vgdb delivers the command while we wait) before
the first invoke. Counts are identical either way (checked: 2,096,590 for the
reference layer both ways).

Which dump belongs to which invoke is read off the dump directory (the files that
appeared during that invoke) rather than inferred from a counter, so a model that
fails to load, or an invoke that raises, cannot shift the others' counts.

MANIFEST gets one JSON line per model, flushed as it goes, so a crash in model k keeps
the results of models 0..k-1: {"model": name, "dumps": [[file, ...] per invoke]} or
{"model": name, "error": message}. Exit status 3: instrumentation could not be switched
on (every model then carries that error).

Imports numpy, LiteRT and model_inputs.py (beside this file) only: every import costs
seconds under valgrind. Runs outside valgrind too (then no dumps appear).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any, TextIO

from ai_edge_litert.interpreter import Interpreter

if __package__:  # imported as device_agent.backends._callgrind_runner (tests, tools)
    from device_agent.backends.model_inputs import load_with_inputs, one_line
else:  # run as a script: this file's directory is sys.path[0]; skip the package imports
    from model_inputs import load_with_inputs, one_line  # type: ignore[import-not-found, no-redef]

INSTRUMENTATION_ERROR = "could not switch callgrind instrumentation on"
EXIT_NO_INSTRUMENTATION = 3


def _dump_files(dump_dir: str) -> set[str]:
    return {name for name in os.listdir(dump_dir) if name.startswith("callgrind.out.")}


def _count(interpreter: Any, dump_dir: str, invokes: int) -> dict:
    dumps: list[list[str]] = []
    for _ in range(invokes):
        before = _dump_files(dump_dir)
        try:
            interpreter.invoke()
        except Exception as exc:
            return {"error": f"invoke failed: {one_line(exc)}"}
        dumps.append(sorted(_dump_files(dump_dir) - before))
    return {"dumps": dumps}


def _instrument(callgrind_control: str) -> str | None:
    """Switch callgrind's instrumentation on for this process; the error, if any."""
    try:
        done = subprocess.run(
            [callgrind_control, "-i", "on", str(os.getpid())], capture_output=True, text=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return one_line(exc)
    if done.returncode != 0:
        return one_line(Exception(done.stderr or done.stdout or f"exit status {done.returncode}"))
    return None


def _write(manifest: TextIO, entry: dict) -> None:
    manifest.write(json.dumps(entry) + "\n")
    manifest.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir")
    parser.add_argument("dump_dir")
    parser.add_argument("manifest")
    parser.add_argument("--invokes", type=int, default=2)
    parser.add_argument("--instrument-with", default=None, metavar="CALLGRIND_CONTROL")
    args = parser.parse_args(argv)
    names = sorted(n for n in os.listdir(args.model_dir) if n.endswith(".tflite"))
    loaded = [(name, load_with_inputs(Interpreter, os.path.join(args.model_dir, name))) for name in names]
    with open(args.manifest, "w", encoding="utf-8") as manifest:
        if args.instrument_with:
            error = _instrument(args.instrument_with)
            if error is not None:
                for name in names:
                    _write(manifest, {"model": name, "error": f"{INSTRUMENTATION_ERROR}: {error}"})
                return EXIT_NO_INSTRUMENTATION
        for name, interpreter in loaded:
            if isinstance(interpreter, str):
                _write(manifest, {"model": name, "error": interpreter})
            else:
                _write(manifest, {"model": name, **_count(interpreter, args.dump_dir, args.invokes)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
