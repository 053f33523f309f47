"""qemu-aarch64: instructions executed per invoke on an emulated Arm core (Cortex-A53/A76).

What a phone's CPU executes, without a phone: LiteRT's aarch64 build runs under QEMU
user-mode emulation pinned to one core model (`-cpu cortex-a53`), with a fake
/proc/cpuinfo of that core, so XNNPACK picks the kernels it would pick on that core
(conv3x3 float32: 62 M instructions on A53, 38 M on A76 in MEASUREMENT_NOTES.md). A
small TCG plugin of ours (device_agent/arm/insn_count.c) counts the guest instructions
between two marker system calls that the measured program makes around each invoke
(device_agent/arm/guest_runner.py). `netadapt-agent setup-arm` builds all of it.

Batches: one emulator process per `measure_many` loads every model, then invokes each
`invokes_per_model` times between markers. Python + numpy + LiteRT start-up under
emulation costs ~5 s per process, a one-layer model ~0.3-1 s.

Counts: the first invoke of an interpreter does one-time set-up and is not reported
(details.first_invoke); the value is the median of the later ones, minus the cost of
the markers themselves (the median of empty marker pairs, details.marker_overhead).
Steady invokes of one interpreter repeat to the instruction; two interpreters of the
same model differ by ~100 in 4 M (buffer addresses change a few code paths), well
under 0.01%.

Emulated time is no proxy for Arm latency (60-800x slower than the host, varying by
op): this backend reports instruction counts only. Instructions are not latency
either: no memory stalls, no issue width. But they are exact and they follow the
target core's kernels, which host counts do not.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
from pathlib import Path

from device_agent.arm.cores import DEFAULT_CORE, core as arm_core
from device_agent.arm.guest_runner import NULL_TAG_BASE, invoke_tag
from device_agent.arm.setup import (
    ArmLayout,
    SetupError,
    copy_agent_code,
    default_arm_dir,
    find_qemu,
    qemu_version,
)
from device_agent.backends.base import Backend, CpuChoice, Measurement
from device_agent.backends.batch_process import counted, run_batch_process, usable_entry, write_models
from device_agent.backends.reference_layer import counted_self_test, reference_model
from latency_tables.protocol import DeviceDescription

log = logging.getLogger(__name__)

# The marker: a system call number Linux/aarch64 does not use (they end below 500;
# QEMU answers -ENOSYS) and a cookie in its first argument ("NETADAPT" in ASCII), so a
# program's own stray call of that number cannot be mistaken for a marker.
MARKER_SYSCALL = 0x4E41
MARKER_COOKIE = int.from_bytes(b"NETADAPT", "big")
START_UP_SECONDS = 180.0  # emulated Python + numpy + LiteRT, generously (measured ~5 s)
SECONDS_PER_MODEL = 600.0  # a whole model invoked a few times under emulation, generously


class QemuAarch64Backend(Backend):
    name = "qemu-aarch64"
    metric = "instructions"

    def __init__(
        self,
        threads: int = 1,
        cpu: CpuChoice = None,
        arm_dir: Path | str | None = None,
        invokes_per_model: int = 3,
    ) -> None:
        if threads != 1:
            raise ValueError(f"{self.name} counts one thread: use --threads 1")
        if cpu is None:
            cpu = DEFAULT_CORE
        if not isinstance(cpu, str):
            raise ValueError(f"{self.name} --cpu takes an emulated core name (cortex-a53, cortex-a76), not core numbers")
        if invokes_per_model < 2:
            raise ValueError("invokes_per_model must be >= 2: the first invoke does one-time set-up")
        self.core = arm_core(cpu).name
        self.threads = 1
        self.invokes_per_model = invokes_per_model
        self.layout = ArmLayout(Path(arm_dir or default_arm_dir()).expanduser().resolve())
        try:
            state = self.layout.check(self.core)
            self.qemu = find_qemu()
            self.qemu_version = qemu_version(self.qemu)
        except SetupError as exc:
            raise RuntimeError(str(exc)) from None
        copy_agent_code(self.layout)  # the runner in the rootfs is this agent's version
        self.python = self.layout.python(self.core, state)
        self.litert_version = state.get("litert_version", "unknown")
        built_with = state.get("qemu_version")
        if built_with and built_with.split(".")[:2] != self.qemu_version.split(".")[:2]:
            raise RuntimeError(
                f"the plugin in {self.layout.root} was built for QEMU {built_with}, this is {self.qemu_version}: "
                f"run 'netadapt-agent setup-arm --dir {self.layout.root}' again"
            )

    def describe(self) -> DeviceDescription:
        # The count depends on the core's kernels (core name) and the runtime; the QEMU
        # series only through which features it emulates for that core.
        series = ".".join(self.qemu_version.split(".")[:2])
        return DeviceDescription(
            backend=self.name,
            cpu_model=f"{self.core} (emulated, qemu {series})",
            runtime_version=f"ai-edge-litert {self.litert_version} (aarch64)",
            threads=1,
            delegate="xnnpack",
            metric=self.metric,
        )

    def command(self, model_dir: Path, manifest: Path, counts: Path) -> list[str]:
        prefix = self.layout.prefix(self.core)
        return [
            self.qemu,
            "-cpu", self.core,
            "-L", str(prefix),
            "-plugin", f"{self.layout.plugin},out={counts},marker={MARKER_SYSCALL},cookie={MARKER_COOKIE}",
            str(self.python), "-I", "-S",
            self.layout.guest_path(self.layout.agent / "guest_runner.py"),
            str(model_dir), str(manifest),
            "--marker", str(MARKER_SYSCALL),
            "--cookie", str(MARKER_COOKIE),
            "--invokes", str(self.invokes_per_model),
            "--site", self.layout.guest_path(self.layout.site),
        ]  # fmt: skip

    @staticmethod
    def guest_environment() -> dict[str, str]:
        """A clean environment for the emulated Python: nothing of the host's venv."""
        return {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1",  # numpy's BLAS threads would run under the shared counter
            "OMP_NUM_THREADS": "1",
            "HOME": "/tmp",
        }

    def measure_many(self, models: list[bytes]) -> list[Measurement]:
        if not models:
            return []
        with tempfile.TemporaryDirectory(prefix="netadapt-qemu-") as scratch:
            root = Path(scratch)
            model_dir, manifest, counts = root / "models", root / "manifest.jsonl", root / "counts.txt"
            names = write_models(model_dir, models)
            failure, seconds = run_batch_process(
                self.command(model_dir, manifest, counts),
                "qemu-aarch64",
                START_UP_SECONDS + SECONDS_PER_MODEL * len(models),
                self.guest_environment(),
                cwd=root,
            )
            batch = {"batch_models": len(models), "batch_seconds": round(seconds, 2), "core": self.core}
            entries, null_tags = _read_manifest(manifest)
            tag_counts = read_counts(counts)
            overheads = [count for t in null_tags if isinstance(count := tag_counts.get(t), int)]
            if not overheads:  # nothing can be counted without the markers' own cost
                failure = failure or "the counting plugin recorded no marker pair: is it the insn_count plugin?"
                return [Measurement.failed(failure, **batch) for _ in names]
            overhead = int(statistics.median(overheads))
            return [
                self._measurement(index, entries.get(name), tag_counts, overhead, failure, batch)
                for index, name in enumerate(names)
            ]

    def _measurement(self, index: int, entry: dict | None, tag_counts: dict, overhead: int,
                     failure: str | None, batch: dict) -> Measurement:
        # A crash in model k (failure set) keeps the counts of the models before it.
        usable = usable_entry(entry, failure, "emulated", batch)
        if isinstance(usable, Measurement):
            return usable
        counts = []
        for tag in usable["tags"]:
            value = tag_counts.get(tag)
            if not isinstance(value, int):
                why = value or failure or "missing"
                return Measurement.failed(f"no count for invoke {tag - invoke_tag(index, 0)}: {why}", **batch)
            counts.append(value - overhead)
        return counted(counts, marker_overhead=overhead, **batch)

    def self_test(self) -> str:
        results = self.measure_many([reference_model(), reference_model()])
        batch = results[0].details
        return counted_self_test(
            self, results,
            f"markers:    {batch.get('marker_overhead', 0):,} instructions subtracted per count",
            f"batch:      {batch.get('batch_seconds')} s for 2 models in one emulator process",
            f"setup:      {self.layout.root}",
        )


def read_counts(path: Path) -> dict[int, int | str]:
    """The plugin's output: tag -> instruction count, or tag -> error text."""
    counts: dict[int, int | str] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return counts
    for line in lines:
        fields = line.split()
        if len(fields) < 2 or not fields[0].isdigit():
            continue
        tag = int(fields[0])
        if fields[1] == "error":
            counts[tag] = " ".join(fields[2:]) or "error"
        elif fields[1].isdigit():
            vcpus = next((f.partition("=")[2] for f in fields[2:] if f.startswith("vcpus=")), "1")
            # Another live thread could have run under the shared counter.
            counts[tag] = int(fields[1]) if vcpus in ("", "1") else f"{vcpus} threads were running"
    return counts


def _read_manifest(path: Path) -> tuple[dict[str, dict], list[int]]:
    entries: dict[str, dict] = {}
    null_tags: list[int] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return entries, null_tags
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # the runner died mid-line
            continue
        if "null_tags" in entry:
            null_tags = [int(t) for t in entry["null_tags"] if int(t) >= NULL_TAG_BASE]
        elif "model" in entry:
            entries[entry["model"]] = entry
    return entries, null_tags
