"""The adb backend's conversation with a phone, against a fake `adb` that answers like
one (getprop, sysfs, push, shell) and prints benchmark_model output from the fixtures.
No phone was available: this checks our side of the protocol only."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from device_agent.backends.adb import AdbBackend, split_sections

FIXTURES = Path(__file__).with_name("adb_fixtures")
# Model k of a batch gets fixture k; cut_short.txt exits with 1 as a failed run would.
OUTPUTS = ["xnnpack_op_profile.txt", "tflite_op_profile_legacy.txt", "timings_only_slow.txt", "cut_short.txt"]

FAKE_ADB = r'''#!PYTHON
import json, os, re, sys
args = sys.argv[1:]
log = os.environ["FAKE_ADB_LOG"]
with open(log, "a") as handle:
    handle.write(json.dumps(args) + "\n")
if args[:1] == ["-s"]:
    args = args[2:]
if args[0] == "push":
    sys.exit(0)
script = args[1]
if script == "getprop":
    print("[ro.build.version.release]: [14]\n[ro.product.cpu.abi]: [arm64-v8a]\n"
          "[ro.product.manufacturer]: [Google]\n[ro.product.model]: [Pixel 7]\n[ro.soc.model]: [GS201]")
elif script == "cat /sys/devices/system/cpu/present":
    print("0-7")
elif "@@netadapt-model" in script:
    outputs = json.loads(os.environ["FAKE_ADB_OUTPUTS"])
    for k, name in enumerate(re.findall(r"echo @@netadapt-model (\S+);", script)):
        print(f"@@netadapt-model {name}")
        fixture = outputs[k % len(outputs)]
        sys.stdout.write(open(os.path.join(os.environ["FAKE_ADB_FIXTURES"], fixture)).read())
        print(f"@@netadapt-exit {1 if fixture == 'cut_short.txt' else 0}")
'''


@pytest.fixture()
def fake_adb(tmp_path, monkeypatch):
    adb = tmp_path / "adb"
    adb.write_text(FAKE_ADB.replace("PYTHON", sys.executable))
    adb.chmod(adb.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FAKE_ADB_LOG", str(tmp_path / "adb.log"))
    monkeypatch.setenv("FAKE_ADB_FIXTURES", str(FIXTURES))
    monkeypatch.setenv("FAKE_ADB_OUTPUTS", json.dumps(OUTPUTS))
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF not really")
    return adb, binary, tmp_path / "adb.log"


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_measures_a_batch_pinned_and_reports_each_model(fake_adb):
    adb, binary, log = fake_adb
    backend = AdbBackend(threads=1, cpu=[7], benchmark_model=binary, serial="R5CT", adb=str(adb))
    profile = backend.describe()
    assert profile.backend == "adb" and profile.metric == "latency_ms"
    assert profile.cpu_model == "Google Pixel 7 (GS201, arm64-v8a) cores 7"
    assert profile.runtime_version.startswith("benchmark_model sha256:") and "Android 14" in profile.runtime_version

    results = backend.measure_many([b"m0", b"m1", b"m2", b"m3"])
    assert [r.ok for r in results] == [True, True, True, False]
    assert results[0].median == pytest.approx(0.385817) and results[0].n == 2570
    assert results[0].spread == pytest.approx(18 / 385.817)
    assert results[0].details["ops"][0]["node_type"] == "Convolution (NHWC, F32) IGEMM"
    assert len(results[1].details["ops"]) == 3
    assert results[2].median == pytest.approx(2950.34)
    assert "exited with 1" in results[3].error and "no 'Inference timings' line" in results[3].error

    made = calls(log)
    assert all(c[:2] == ["-s", "R5CT"] for c in made)
    pushes = [c[3:] for c in made if c[2] == "push"]
    assert pushes[0] == [str(binary), "/data/local/tmp/netadapt/benchmark_model"]
    assert len(pushes[1]) == 4 + 1 and pushes[1][-1] == "/data/local/tmp/netadapt/batch/"  # one push per batch
    (batch,) = [c[3] for c in made if c[2] == "shell" and "@@netadapt-model" in c[3]]
    assert batch.count("taskset 80 /data/local/tmp/netadapt/benchmark_model") == 4  # core 7 -> mask 0x80
    assert "--num_threads=1" in batch and "--enable_op_profiling=true" in batch
    assert "--graph=/data/local/tmp/netadapt/batch/00003.tflite" in batch
    assert made[-1][2:4] == ["shell", "rm -rf /data/local/tmp/netadapt/batch"]


def test_default_cores_are_the_last_ones(fake_adb):
    adb, binary, _ = fake_adb
    backend = AdbBackend(threads=2, benchmark_model=binary, adb=str(adb))
    assert backend.cpus == [6, 7] and backend.affinity_mask == "c0"
    with pytest.raises(ValueError, match="no core"):
        AdbBackend(cpu=[9], benchmark_model=binary, adb=str(adb))


def test_a_batch_cut_off_mid_model_keeps_what_arrived():
    text = "@@netadapt-model a.tflite\nINFO: x\n@@netadapt-exit 0\n@@netadapt-model b.tflite\nINFO: y\n"
    assert split_sections(text) == {"a.tflite": ("INFO: x", 0), "b.tflite": ("INFO: y", None)}


def test_agent_cli_builds_the_adb_backend(fake_adb, capsys):
    from device_agent.cli import main

    adb, binary, _ = fake_adb
    code = main(["self-test", "--backend", "adb", "--benchmark-model", str(binary), "--adb", str(adb), "--cpu", "4"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "pinned:     taskset 10, 1 thread(s)" in out and "Convolution (NHWC, F32) IGEMM 0.377 ms" in out
