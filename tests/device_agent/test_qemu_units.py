"""qemu-aarch64 pieces that need no emulator: the plugin's output, the fake cpuinfo,
the marker tags, the CLI's --cpu."""

from __future__ import annotations

import pytest

from device_agent import device_info
from device_agent.arm.cores import CORES, core
from device_agent.arm.guest_runner import NULL_TAG_BASE, invoke_tag
from device_agent.backends.qemu_aarch64 import MARKER_COOKIE, MARKER_SYSCALL, read_counts
from device_agent.cli import _cpu_option


def test_plugin_output_lines(tmp_path):
    path = tmp_path / "counts.txt"
    path.write_text("1000000000 6639 vcpus=1\n0 3928250 vcpus=1\n1 3921618 vcpus=1\n"
                    "2 error stop-without-start\n3 100 vcpus=2\n4 77")  # the last line: cut off by a crash
    counts = read_counts(path)
    assert counts[NULL_TAG_BASE] == 6639 and counts[1] == 3921618
    assert counts[2] == "stop-without-start"
    assert counts[3] == "2 threads were running"
    assert counts[4] == 77
    assert read_counts(tmp_path / "missing.txt") == {}


def test_fake_cpuinfo_reads_as_the_emulated_core(tmp_path, monkeypatch):
    for name, expected in (("cortex-a53", "0x41:0xd03"), ("cortex-a76", "0x41:0xd0b")):
        path = tmp_path / name
        path.write_text(core(name).cpuinfo(2))
        fields = device_info._cpuinfo_fields(str(path))
        assert f"{fields['CPU implementer']}:{fields['CPU part']}" == expected
        assert path.read_text().count("processor\t:") == 2
    assert "asimddp" in CORES["cortex-a76"].features and "asimddp" not in CORES["cortex-a53"].features
    with pytest.raises(ValueError, match="emulated cores: cortex-a53, cortex-a76"):
        core("cortex-x4")


def test_marker_constants_fit_the_protocol():
    assert MARKER_SYSCALL > 500  # above every aarch64 Linux system call
    assert MARKER_COOKIE < 2**64 and MARKER_COOKIE.to_bytes(8, "big") == b"NETADAPT"
    assert invoke_tag(3, 2) == 3002 and invoke_tag(10**5, 999) < NULL_TAG_BASE


def test_cpu_option_takes_core_numbers_or_a_core_name():
    assert _cpu_option("3") == [3] and _cpu_option("2,3") == [2, 3]
    assert _cpu_option("cortex-a76") == "cortex-a76"
