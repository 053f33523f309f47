"""Parse what TFLite/LiteRT's C++ `benchmark_model` prints.

Formats handled (fixtures in tests/device_agent/adb_fixtures/ follow real output):

- log lines with or without the "INFO: " prefix (newer builds log through
  TFLITE_LOG with a severity prefix; older ones printed bare lines);
- the run statistics line of each phase (warm-up, then regular runs):
  "count=50 first=1675 curr=1587 min=1586 max=1684 avg=1592.71 std=14", or
  "count=1 curr=3512391" (one run, or all runs equal, then "(all same)" may follow);
  avg is printed with 6 significant digits, so it can be "2.95034e+06";
- the summary: "Inference timings in us: Init: 855, First inference: 49060,
  Warmup (avg): 34825.1, Inference (avg): 33209.4";
- with --enable_op_profiling=true, the tables after "Operator-wise Profiling Info for
  Regular Benchmark Runs:": "Run Order" rows of tab-separated, right-aligned fields
  ([node type], [start] in older builds, [first], [avg ms], [%], [cdf%], [mem KB],
  [times called], [Name]). With XNNPACK the rows are XNNPACK operators
  ("Convolution (NHWC, F32) IGEMM", name "Delegate/Convolution (NHWC, F32) IGEMM:0");
  without it, TFLite ops ("CONV_2D", name "[model/conv2d/Relu]:0").
  Copies with the tabs expanded to spaces parse too (fields split on 2+ spaces).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PROFILE_HEADER = "Operator-wise Profiling Info for Regular Benchmark Runs:"
_PREFIX = re.compile(r"^(?:INFO|WARN|WARNING|ERROR|VERBOSE): ")
_STAT_FIELD = re.compile(r"(count|first|curr|min|max|avg|std|p5|median|p95)=([-+0-9.eE]+)")
_TIMINGS = re.compile(
    r"Inference timings in us: Init: (?P<init>[-+0-9.eE]+), First inference: (?P<first>[-+0-9.eE]+), "
    r"Warmup \(avg\): (?P<warmup>[-+0-9.eE]+|nan|-nan), Inference \(avg\): (?P<inference>[-+0-9.eE]+|nan|-nan)"
)
_TABLE_TITLE = re.compile(r"^=+ (?P<title>.+?) =+$")


class BenchmarkOutputError(ValueError):
    """The output has no result; the message says what it has instead."""


@dataclass(frozen=True)
class RunStats:
    """One "count=..." line: microseconds per run over `count` runs."""

    count: int
    avg: float
    std: float = 0.0
    first: float | None = None
    curr: float | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class OpProfile:
    node_type: str
    name: str
    avg_ms: float
    first_ms: float
    percent: float
    times_called: int


@dataclass
class BenchmarkOutput:
    init_us: float
    first_inference_us: float
    warmup_avg_us: float
    inference_avg_us: float
    runs: list[RunStats] = field(default_factory=list)  # in order: warm-up, regular
    ops: list[OpProfile] = field(default_factory=list)  # the regular runs' Run Order table
    parameters: dict[str, str] = field(default_factory=dict)  # "Num threads" -> "1", ...

    @property
    def regular(self) -> RunStats | None:
        return self.runs[-1] if self.runs else None


def _lines(text: str) -> list[str]:
    return [_PREFIX.sub("", line.rstrip("\r")) for line in text.splitlines()]


def parse_run_stats(line: str) -> RunStats | None:
    if not line.startswith("count="):
        return None
    values = {key: float(value) for key, value in _STAT_FIELD.findall(line)}
    if "count" not in values:
        return None
    # One run or all runs equal: only "curr" is printed.
    avg = values.get("avg", values.get("curr"))
    if avg is None:
        return None
    return RunStats(
        count=int(values["count"]),
        avg=avg,
        std=values.get("std", 0.0),
        first=values.get("first", values.get("curr")),
        curr=values.get("curr"),
        min=values.get("min", values.get("curr")),
        max=values.get("max", values.get("curr")),
    )


def _fields(line: str) -> list[str]:
    parts = line.split("\t") if "\t" in line else re.split(r"\s{2,}", line)
    return [part.strip() for part in parts if part.strip()]


def parse_run_order(lines: list[str]) -> list[OpProfile]:
    """Rows of the first "Run Order" table in `lines`."""
    ops: list[OpProfile] = []
    columns: list[str] | None = None
    for line in lines:
        title = _TABLE_TITLE.match(line.strip())
        if title:
            if columns is not None:
                break  # the next table
            if title.group("title") == "Run Order":
                columns = []
            continue
        if columns is None:
            continue
        if not columns:
            if "[node type]" in line:
                columns = [name.strip("[]").lower() for name in _fields(line)]
            continue
        if not line.strip():
            break  # the table ends with an empty line
        values = _fields(line)
        if len(values) != len(columns):
            raise BenchmarkOutputError(f"profile row has {len(values)} fields, header {len(columns)}: {line.strip()!r}")
        row = dict(zip(columns, values))
        ops.append(
            OpProfile(
                node_type=row["node type"],
                name=row.get("name", ""),
                avg_ms=float(row["avg ms"]),
                first_ms=float(row["first"]),
                percent=float(row["%"].rstrip("%")),
                times_called=int(float(row["times called"])),
            )
        )
    return ops


def parse_benchmark_output(text: str) -> BenchmarkOutput:
    lines = _lines(text)
    runs = [stats for stats in map(parse_run_stats, lines) if stats is not None]
    timings = next((m for m in map(_TIMINGS.search, lines) if m), None)
    if timings is None:
        meaningful = [line.strip() for line in lines if line.strip()]
        last = meaningful[-1] if meaningful else "no output"
        raise BenchmarkOutputError(f"benchmark_model printed no 'Inference timings' line; last line: {last[:300]!r}")
    parameters = {}
    for line in lines:
        match = re.match(r"^([A-Za-z#][^:\[\]]*): \[(.*)\]$", line.strip())
        if match:
            parameters[match.group(1)] = match.group(2)
    ops: list[OpProfile] = []
    if PROFILE_HEADER in lines:
        ops = parse_run_order(lines[lines.index(PROFILE_HEADER) + 1 :])
    return BenchmarkOutput(
        init_us=float(timings.group("init")),
        first_inference_us=float(timings.group("first")),
        warmup_avg_us=float(timings.group("warmup")),
        inference_avg_us=float(timings.group("inference")),
        runs=runs,
        ops=ops,
        parameters=parameters,
    )


def parse_getprop(text: str) -> dict[str, str]:
    """`adb shell getprop` lines "[ro.product.model]: [Pixel 7]" -> {key: value}."""
    props = {}
    for match in re.finditer(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, flags=re.MULTILINE):
        props[match.group(1)] = match.group(2)
    return props


def parse_cpu_list(text: str) -> list[int]:
    """"0-3,6" (sysfs cpu lists) -> [0, 1, 2, 3, 6]."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus
