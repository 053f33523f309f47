"""Run directories resume only with the settings they were started with."""

from __future__ import annotations

import json

import pytest

from service.netadapt import NetAdaptConfig
from service.pruning import run_layout as layout
from service.pruning.offline_run import OfflineRunRequest, RunInputError, _prepare_run_dir
from service.pruning.options import DataSpec


def request(out, **engine) -> OfflineRunRequest:
    cfg = NetAdaptConfig(budget=0.5, **engine)
    return OfflineRunRequest(out / "model.keras", DataSpec("digits"), "macs", cfg, out)


def started(out, req: OfflineRunRequest) -> None:
    out.mkdir()
    (out / layout.SETTINGS_FILE).write_text(json.dumps(req.settings(), indent=2))


def test_run_dir_with_waypoints_resumes(tmp_path):
    out = tmp_path / "run"
    started(out, request(out, waypoints=(0.75, 0.6)))
    # JSON turned the tuple into a list; the same waypoints in another order are the same.
    assert _prepare_run_dir(request(out, waypoints=[0.6, 0.75])) is True
    with pytest.raises(RunInputError, match=r"different settings \(engine\)"):
        _prepare_run_dir(request(out))
    with pytest.raises(RunInputError, match=r"different settings \(engine\)"):
        _prepare_run_dir(request(out, waypoints=(0.75,)))


def test_run_dir_from_before_waypoints_resumes(tmp_path):
    out = tmp_path / "run"
    started(out, request(out))
    settings = json.loads((out / layout.SETTINGS_FILE).read_text())
    assert "waypoints" not in settings["engine"]
    assert _prepare_run_dir(request(out)) is True
