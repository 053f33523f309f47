"""One registry of backends: the agent's command line, `get_backend` and the server's
`--with-agent` check all read device_agent.backends.BACKENDS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from device_agent.backends import BACKENDS, backend_names, get_backend
from device_agent.cli import main, self_test_parser

REPO = Path(__file__).resolve().parents[2]


def test_every_entry_names_a_backend_class_of_that_name() -> None:
    for name, entry in BACKENDS.items():
        assert entry.backend_class().name == name


def test_the_agent_program_lists_the_registry() -> None:
    out = subprocess.run([sys.executable, "-m", "device_agent", "backends"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = dict(line.split("\t", 1) for line in out.stdout.splitlines())
    assert listed == {name: entry.summary for name, entry in BACKENDS.items()}


def test_the_command_line_offers_every_backend_and_its_own_options(tmp_path: Path) -> None:
    parser = self_test_parser()
    backend_action = next(a for a in parser._actions if a.dest == "backend")
    assert list(backend_action.choices or []) == backend_names()
    for entry in BACKENDS.values():
        for option in entry.options:
            args = parser.parse_args(["--backend", "adb", option.flag, str(tmp_path)])
            assert getattr(args, option.name) == option.type(str(tmp_path))


def test_an_option_of_another_backend_is_refused_naming_its_backend() -> None:
    with pytest.raises(ValueError, match="--serial is for adb, not host-latency"):
        get_backend("host-latency", serial="emulator-5554")


def test_a_core_name_is_refused_by_backends_that_pin_core_numbers() -> None:
    with pytest.raises(ValueError, match="core names are for qemu-aarch64"):
        get_backend("host-instructions", cpu="cortex-a53")


def test_the_qemu_backend_gets_its_arm_dir_from_the_command_line(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "no-arm-here"
    code = main(["self-test", "--backend", "qemu-aarch64", "--cpu", "cortex-a53", "--arm-dir", str(empty)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"netadapt-agent: error: the Arm environment in {empty} is not ready"), err
