"""adb: latency on an Android phone, timed by the user's own `benchmark_model` binary.

NOT RUN AGAINST A PHONE HERE: no phone and no benchmark_model binary were available
where this was written. The output parser is tested on fixtures in the formats the
tool prints (device_agent/backends/adb_output.py), and the adb conversation on a fake
adb (tests/device_agent/test_adb_backend.py); on a real phone, check a self-test first.

Per batch: the models go to DEVICE_DIR/batch in one `adb push`; one `adb shell` runs
benchmark_model on each, pinned with `taskset MASK` to the chosen cores and with
`--num_threads` threads, `--enable_op_profiling=true` for the per-op table, each run's
output framed by marker lines so one model's failure does not cost the others.
The value is benchmark_model's "Inference (avg)" (the mean of the regular runs) in
ms; spread = std / avg of those runs; details carry first inference, warm-up, init,
the run statistics and the per-op profile.

The device profile comes from `getprop` (manufacturer, model, SoC, ABI, Android
release) and names the cores the benchmark was pinned to (a phone's big and little
cores time very differently) and the benchmark binary by its sha256.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from device_agent.backends.adb_output import (
    BenchmarkOutputError,
    parse_benchmark_output,
    parse_cpu_list,
    parse_getprop,
)
from device_agent.backends.base import Backend, CpuChoice, Measurement, core_numbers
from device_agent.backends.reference_layer import REFERENCE_DESCRIPTION, reference_model
from device_agent.text import one_line
from latency_tables.protocol import DeviceDescription

log = logging.getLogger(__name__)

DEFAULT_DEVICE_DIR = "/data/local/tmp/netadapt"
MODEL_MARK = "@@netadapt-model"
EXIT_MARK = "@@netadapt-exit"
ADB_TIMEOUT = 120.0
SECONDS_PER_MODEL = 120.0


class AdbError(RuntimeError):
    pass


class AdbBackend(Backend):
    name = "adb"
    metric = "latency_ms"

    def __init__(
        self,
        threads: int = 1,
        cpu: CpuChoice = None,
        benchmark_model: Path | str | None = None,
        serial: str | None = None,
        adb: str = "adb",
        device_dir: str = DEFAULT_DEVICE_DIR,
        warmup_runs: int = 5,
        num_runs: int = 50,
        op_profiling: bool = True,
    ) -> None:
        cpus = core_numbers(self.name, cpu)
        if benchmark_model is None:
            raise ValueError(f"{self.name} needs --benchmark-model PATH: your benchmark_model binary for the phone")
        self.binary = Path(benchmark_model).expanduser()
        if not self.binary.is_file():
            raise ValueError(f"benchmark_model binary {self.binary} does not exist")
        found = shutil.which(adb)
        if found is None:
            raise RuntimeError(f"{self.name} needs adb; {adb!r} is not on PATH (apt-get install adb)")
        self.adb = found
        self.serial = serial
        self.threads = threads
        self.device_dir = device_dir.rstrip("/")
        self.warmup_runs = warmup_runs
        self.num_runs = num_runs
        self.op_profiling = op_profiling
        self.binary_sha256 = hashlib.sha256(self.binary.read_bytes()).hexdigest()
        self.props = parse_getprop(self.shell("getprop"))
        if not self.props:
            raise AdbError("adb shell getprop printed no properties: is a phone connected and authorised?")
        present = parse_cpu_list(self.shell("cat /sys/devices/system/cpu/present").strip() or "0")
        self.cpus = self._choose_cpus(cpus, present)
        self.device_binary = f"{self.device_dir}/benchmark_model"
        self.shell(f"mkdir -p {shlex.quote(self.device_dir)}")
        self.run_adb("push", str(self.binary), self.device_binary)
        self.shell(f"chmod 755 {shlex.quote(self.device_binary)}")

    # ---- adb plumbing ------------------------------------------------------------------

    def run_adb(self, *args: str, timeout: float = ADB_TIMEOUT) -> str:
        command = [self.adb, *(["-s", self.serial] if self.serial else []), *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AdbError(f"adb {args[0]} timed out after {timeout:.0f} s") from None
        if done.returncode != 0:
            raise AdbError(f"adb {args[0]} failed ({done.returncode}): {one_line(Exception(done.stderr or done.stdout))}")
        return done.stdout

    def shell(self, script: str, timeout: float = ADB_TIMEOUT) -> str:
        return self.run_adb("shell", script, timeout=timeout)

    def _choose_cpus(self, cpus: list[int] | None, present: list[int]) -> list[int]:
        if cpus is None:  # the highest-numbered cores: the big cores on big.LITTLE phones
            return present[-self.threads:]
        unknown = sorted(set(cpus) - set(present))
        if unknown:
            raise ValueError(f"the phone has cores {present}; no core {unknown}")
        return sorted(cpus)

    @property
    def affinity_mask(self) -> str:
        return format(sum(1 << c for c in self.cpus), "x")

    # ---- Backend ------------------------------------------------------------------------

    def describe(self) -> DeviceDescription:
        p = self.props
        maker = p.get("ro.product.manufacturer", "")
        model = p.get("ro.product.model", "unknown phone")
        soc = p.get("ro.soc.model") or p.get("ro.board.platform") or p.get("ro.hardware", "unknown soc")
        abi = p.get("ro.product.cpu.abi", "unknown abi")
        cores = ",".join(map(str, self.cpus))
        return DeviceDescription(
            backend=self.name,
            cpu_model=f"{maker} {model} ({soc}, {abi}) cores {cores}".strip(),
            runtime_version=f"benchmark_model sha256:{self.binary_sha256[:12]} (Android {p.get('ro.build.version.release', '?')})",
            threads=self.threads,
            delegate="xnnpack",
            metric=self.metric,
        )

    def benchmark_command(self, graph: str) -> str:
        flags = [
            f"--graph={graph}",
            f"--num_threads={self.threads}",
            f"--warmup_runs={self.warmup_runs}",
            f"--num_runs={self.num_runs}",
            f"--enable_op_profiling={'true' if self.op_profiling else 'false'}",
        ]
        return " ".join(["taskset", self.affinity_mask, shlex.quote(self.device_binary), *map(shlex.quote, flags)])

    def batch_script(self, names: list[str], batch_dir: str) -> str:
        steps = []
        for name in names:
            graph = f"{batch_dir}/{name}"
            steps.append(f"echo {MODEL_MARK} {name}; {self.benchmark_command(graph)} 2>&1; echo {EXIT_MARK} $?")
        return "; ".join(steps)

    def measure_many(self, models: list[bytes]) -> list[Measurement]:
        if not models:
            return []
        names = [f"{i:05d}.tflite" for i in range(len(models))]
        batch_dir = f"{self.device_dir}/batch"
        started = time.monotonic()
        try:
            with tempfile.TemporaryDirectory(prefix="netadapt-adb-") as scratch:
                paths = []
                for name, model in zip(names, models):
                    path = Path(scratch) / name
                    path.write_bytes(model)
                    paths.append(str(path))
                self.shell(f"rm -rf {shlex.quote(batch_dir)} && mkdir -p {shlex.quote(batch_dir)}")
                self.run_adb("push", *paths, batch_dir + "/", timeout=ADB_TIMEOUT + 10 * len(models))
            output = self.shell(self.batch_script(names, batch_dir), timeout=ADB_TIMEOUT + SECONDS_PER_MODEL * len(models))
        except AdbError as exc:
            return [Measurement.failed(str(exc)) for _ in models]
        finally:
            try:
                self.shell(f"rm -rf {shlex.quote(batch_dir)}")
            except AdbError as exc:
                log.warning("could not clean %s on the phone: %s", batch_dir, exc)
        sections = split_sections(output)
        batch = {"batch_models": len(models), "batch_seconds": round(time.monotonic() - started, 2)}
        return [self._measurement(sections.get(name), batch) for name in names]

    def _measurement(self, section: tuple[str, int | None] | None, batch: dict) -> Measurement:
        if section is None:
            return Measurement.failed("benchmark_model did not run for this model", **batch)
        text, status = section
        try:
            result = parse_benchmark_output(text)
        except BenchmarkOutputError as exc:
            return Measurement.failed(f"benchmark_model exited with {status}: {exc}", **batch)
        regular = result.regular
        avg_us = result.inference_avg_us
        return Measurement(
            median=avg_us / 1000.0,
            spread=(regular.std / regular.avg) if regular and regular.avg else 0.0,
            n=regular.count if regular else None,
            details={
                "statistic": "mean of benchmark_model's regular runs",
                "first_inference_us": result.first_inference_us,
                "warmup_avg_us": result.warmup_avg_us,
                "init_us": result.init_us,
                "runs": [asdict(r) for r in result.runs],
                "ops": [asdict(op) for op in result.ops],
                "affinity_mask": self.affinity_mask,
                **batch,
            },
        )

    def self_test(self) -> str:
        (result,) = self.measure_many([reference_model()])
        if not result.ok:
            raise RuntimeError(f"{self.name} self-test failed: {result.error}")
        ops = ", ".join(f"{op['node_type']} {op['avg_ms']:.3f} ms" for op in result.details["ops"]) or "(no profile)"
        return "\n".join(
            [
                f"backend:    {self.name} ({self.describe().profile_key()})",
                f"reference:  {REFERENCE_DESCRIPTION}",
                f"timed:      {result.median:.4f} ms (mean of {result.n} runs, spread {result.spread:.1%})",
                f"ops:        {ops}",
                f"pinned:     taskset {self.affinity_mask}, {self.threads} thread(s)",
            ]
        )


def split_sections(output: str) -> dict[str, tuple[str, int | None]]:
    """The batch shell's output -> {model name: (benchmark_model output, exit status)}."""
    sections: dict[str, tuple[str, int | None]] = {}
    name: str | None = None
    lines: list[str] = []
    for line in output.splitlines():
        stripped = line.rstrip("\r")
        if stripped.startswith(MODEL_MARK + " "):
            name, lines = stripped[len(MODEL_MARK) + 1 :].strip(), []
        elif stripped.startswith(EXIT_MARK) and name is not None:
            match = re.search(r"(-?\d+)", stripped[len(EXIT_MARK) :])
            sections[name] = ("\n".join(lines), int(match.group(1)) if match else None)
            name = None
        elif name is not None:
            lines.append(stripped)
    if name is not None:  # cut off mid-model (adb died): keep what arrived
        sections[name] = ("\n".join(lines), None)
    return sections
