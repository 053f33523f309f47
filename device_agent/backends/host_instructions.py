"""host-instructions: exact instructions executed per invoke, counted by valgrind/callgrind.

Wall-clock time on a shared host is noisy (MEASUREMENT_NOTES.md: 16% median, up to 44%
across processes) and this VM has no hardware counters. Callgrind counts every
instruction executed, so a count is exact and repeatable: the same model gives the same
number in any process, and counts add up over layers (1.0002x the whole model).

How: one valgrind process per batch runs `_callgrind_runner.py`, which loads every
model and invokes each one `invokes_per_model` times. Collection is toggled on and off
around the interpreter's C++ Invoke (`--toggle-collect`), and callgrind writes one dump
as each Invoke returns (`--dump-after`), so a dump holds exactly one invoke: no Python,
loading or allocation in it. A process costs seconds of Python start-up under
valgrind (~10 s fully instrumented, ~5 s with instrumentation switched on only
before the first invoke, see _callgrind_runner.py), which is why models are counted
in batches.

The first invoke of an interpreter runs a few hundred instructions of one-time set-up
(measured: +688..+843 instructions, the same for a 0.2 M and a 33 M instruction conv);
the second and later invokes are identical to the instruction. So the first invoke is
counted but not reported (it is in details as `first_invoke`); the value is the second.

Caveats, in the device profile: valgrind's virtual CPU has no AVX-512 or AMX, so
XNNPACK runs its AVX2 kernels: these are counts of the AVX2 code path, which depend on
the valgrind version (its CPUID) and the LiteRT version, not on this host's full ISA.
Instructions are not latency: they ignore memory stalls and SIMD width differences.
Threads: the interpreter runs one thread; worker threads would make the count depend
on how the work is split (and valgrind runs threads one at a time anyway).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from device_agent import device_info
from device_agent.backends._callgrind_runner import INSTRUMENTATION_ERROR
from device_agent.backends.base import Backend, CpuChoice, Measurement, core_numbers
from device_agent.backends.batch_process import counted, run_batch_process, usable_entry, write_models
from device_agent.backends.callgrind_output import CallgrindFormatError, instructions
from device_agent.backends.reference_layer import counted_self_test, reference_model
from device_agent.text import one_line
from latency_tables.protocol import DeviceDescription

log = logging.getLogger(__name__)

# Verified with `nm -C` on ai_edge_litert 2.3.0's libpywrap_litert_common.so (a local
# symbol, `t`, so it is in .symtab, not in `nm -D`). Callgrind matches demangled names.
DEFAULT_INVOKE_SYMBOL = "tflite::interpreter_wrapper::InterpreterWrapper::Invoke(int)"
_INVOKE_PATTERN = re.compile(r"\btflite::interpreter_wrapper::InterpreterWrapper::Invoke\([^)]*\)")
RUNNER_SCRIPT = Path(__file__).with_name("_callgrind_runner.py")
START_UP_SECONDS = 120.0  # Python + LiteRT start-up under valgrind, generously
SECONDS_PER_MODEL = 300.0  # a whole model invoked twice under callgrind, generously


@functools.lru_cache(maxsize=1)
def litert_package_dir() -> Path:
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("ai_edge_litert is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def find_invoke_symbol(package_dir: Path | None = None) -> tuple[str, str | None]:
    """(demangled Invoke symbol, library it was found in) using `nm -C`.

    Falls back to DEFAULT_INVOKE_SYMBOL with library None when nm is missing (boards
    often lack binutils) or finds nothing; measure_many then checks that dumps appear.
    """
    nm = shutil.which("nm")
    if nm is None:
        return DEFAULT_INVOKE_SYMBOL, None
    for library in sorted((package_dir or litert_package_dir()).glob("*.so")):
        try:
            listing = subprocess.run(
                [nm, "-C", "--defined-only", str(library)], capture_output=True, text=True, timeout=60
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = _INVOKE_PATTERN.search(listing)
        if match:
            return match.group(0), library.name
    return DEFAULT_INVOKE_SYMBOL, None


@functools.lru_cache(maxsize=1)
def valgrind_version(valgrind: str) -> str:
    """E.g. "valgrind-3.19.0"."""
    out = subprocess.run([valgrind, "--version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or "valgrind unknown"


class HostInstructionsBackend(Backend):
    name = "host-instructions"
    metric = "instructions"

    def __init__(
        self,
        threads: int = 1,
        cpu: CpuChoice = None,  # counts do not depend on the core: checked, then unused
        invokes_per_model: int = 2,
        valgrind: str = "valgrind",
    ) -> None:
        if threads != 1:
            raise ValueError("host-instructions counts one thread: use --threads 1")
        core_numbers(self.name, cpu)
        if invokes_per_model < 2:
            raise ValueError("invokes_per_model must be >= 2: the first invoke does one-time set-up")
        found = shutil.which(valgrind)
        if found is None:
            raise RuntimeError(f"{self.name} needs valgrind; {valgrind!r} is not on PATH (apt-get install valgrind)")
        self.valgrind = found
        self.threads = 1
        self.invokes_per_model = invokes_per_model
        self.symbol, self.symbol_library = find_invoke_symbol()
        # Ships with valgrind; without it (or if it fails once) every process runs
        # instrumented from the start: slower, same counts.
        self.callgrind_control = shutil.which("callgrind_control")
        self.fast_start = self.callgrind_control is not None

    def describe(self) -> DeviceDescription:
        # The counts are of the code path valgrind's virtual CPU selects, so the
        # valgrind version is part of the "CPU" (see the module docstring).
        return DeviceDescription(
            backend=self.name,
            cpu_model=f"{device_info.cpu_model()} [{valgrind_version(self.valgrind)}]",
            runtime_version=device_info.litert_version(),
            threads=1,
            delegate="xnnpack",
            metric=self.metric,
        )

    def command(self, model_dir: Path, dump_dir: Path, manifest: Path) -> list[str]:
        fast = self.fast_start and self.callgrind_control is not None
        return [
            self.valgrind,
            "--tool=callgrind",
            *(["--instr-atstart=no"] if fast else []),
            "--collect-atstart=no",
            f"--toggle-collect={self.symbol}",
            f"--dump-after={self.symbol}",
            f"--callgrind-out-file={dump_dir / 'callgrind.out'}",
            sys.executable,
            str(RUNNER_SCRIPT),
            str(model_dir),
            str(dump_dir),
            str(manifest),
            f"--invokes={self.invokes_per_model}",
            *([f"--instrument-with={self.callgrind_control}"] if fast else []),
        ]

    def measure_many(self, models: list[bytes]) -> list[Measurement]:
        if not models:
            return []
        results = self._run_batch(models)
        if self.fast_start and all((r.error or "").startswith(INSTRUMENTATION_ERROR) for r in results):
            log.warning("%s; counting with instrumentation on from the start from now on", results[0].error)
            self.fast_start = False
            results = self._run_batch(models)
        return results

    def _run_batch(self, models: list[bytes]) -> list[Measurement]:
        with tempfile.TemporaryDirectory(prefix="netadapt-callgrind-") as scratch:
            root = Path(scratch)
            model_dir, dump_dir, manifest = root / "models", root / "dumps", root / "manifest.jsonl"
            dump_dir.mkdir()
            names = write_models(model_dir, models)
            failure, seconds = run_batch_process(
                self.command(model_dir, dump_dir, manifest),
                "valgrind",
                START_UP_SECONDS + SECONDS_PER_MODEL * len(models),
                {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
            entries = _read_manifest(manifest)
            batch = {
                "batch_models": len(models),
                "batch_seconds": round(seconds, 2),
                "instrumented_from_start": not self.fast_start,
            }
            return [self._measurement(entries.get(name), dump_dir, failure, batch) for name in names]

    def _measurement(self, entry: dict | None, dump_dir: Path, failure: str | None, batch: dict) -> Measurement:
        usable = usable_entry(entry, failure, "callgrind", batch)
        if isinstance(usable, Measurement):
            return usable
        counts = []
        for files in usable["dumps"]:
            if len(files) != 1:
                return Measurement.failed(
                    f"expected one callgrind dump per invoke, got {len(files)}: is {self.symbol!r} "
                    f"the interpreter's invoke in this LiteRT build?",
                    **batch,
                )
            try:
                counts.append(instructions(dump_dir / files[0]))
            except (OSError, CallgrindFormatError) as exc:
                return Measurement.failed(f"cannot read callgrind dump: {one_line(exc)}", **batch)
        return counted(counts, **batch)

    def self_test(self) -> str:
        # Two interpreters of the same model in one process, each invoked 3 times: four
        # steady-state counts that must all be equal.
        previous, self.invokes_per_model = self.invokes_per_model, 3
        try:
            results = self.measure_many([reference_model(), reference_model()])
        finally:
            self.invokes_per_model = previous
        batch = results[0].details
        return counted_self_test(
            self, results,
            f"symbol:     {self.symbol} in {self.symbol_library or '(not checked: no nm)'}",
            f"batch:      {batch.get('batch_seconds')} s for 2 models in one valgrind process, "
            + ("instrumented from the start" if batch.get("instrumented_from_start")
               else "instrumentation switched on before the first invoke"),
        )


def _read_manifest(path: Path) -> dict[str, dict]:
    entries: dict[str, dict] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return entries
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # the runner died mid-line
            continue
        entries[entry["model"]] = entry
    return entries
