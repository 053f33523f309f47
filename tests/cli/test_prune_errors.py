"""Bad input to `netadapt prune`: one line saying what to change, non-zero exit, and
nothing written to the run directory."""

from __future__ import annotations

import zipfile

import pytest

from tests.helpers.cli import run_cli


def _assert_clean_failure(result, out_dir, *fragments: str) -> None:
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("netadapt: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr
    assert not out_dir.exists()
    assert not out_dir.with_name(out_dir.name + ".partial").exists()


def _prune(model, out, *extra):
    return run_cli("prune", str(model), "--data", "digits", "--budget", "0.5", "--out", str(out), *extra)


def test_missing_model_file(tmp_path):
    out = tmp_path / "run"
    _assert_clean_failure(_prune(tmp_path / "nope.keras", out), out, "does not exist")


def test_non_keras_file(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_text("not a model")
    out = tmp_path / "run"
    _assert_clean_failure(_prune(bad, out), out, "not a Keras model file", "model.save")


def test_zip_without_keras_config(tmp_path):
    bad = tmp_path / "model.keras"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("weights.bin", b"\0" * 10)
    out = tmp_path / "run"
    _assert_clean_failure(_prune(bad, out), out, "no config.json")


def test_legacy_h5_file(tmp_path):
    bad = tmp_path / "model.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n")
    out = tmp_path / "run"
    _assert_clean_failure(_prune(bad, out), out, "HDF5", "model.keras")


def test_dataset_that_does_not_fit_the_model(tmp_path, untrained_digits_model):
    out = tmp_path / "run"
    result = _prune(untrained_digits_model, out, "--image-size", "16")
    _assert_clean_failure(result, out, "(8, 8, 1)", "(16, 16, 1)")


def test_unreachable_budget(tmp_path, untrained_digits_model):
    out = tmp_path / "run"
    result = run_cli("prune", str(untrained_digits_model), "--data", "digits", "--budget", "0.001",
                     "--out", str(out))
    _assert_clean_failure(result, out, "unreachable", "use --budget of at least 0.028")


@pytest.mark.parametrize("flag,value,fragment", [
    ("--budget", "1.5", "budget"),
    ("--channel-step", "0", "channel_step"),
    ("--waypoints", "0.75,1", "waypoint 1.0 is a ratio of the baseline cost and must be between the budget 0.5 and 1"),
])
def test_invalid_engine_settings(tmp_path, untrained_digits_model, flag, value, fragment):
    out = tmp_path / "run"
    args = ["prune", str(untrained_digits_model), "--data", "digits", "--out", str(out)]
    args += ["--budget", "0.5"] if flag != "--budget" else []
    result = run_cli(*args, flag, value)
    _assert_clean_failure(result, out, fragment)


def test_out_dir_that_is_not_a_run(tmp_path, untrained_digits_model):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _prune(untrained_digits_model, out)
    assert result.returncode == 2
    assert "not a netadapt run directory" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
