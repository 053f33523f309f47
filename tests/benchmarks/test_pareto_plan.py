"""An out directory takes more NetAdapt variants and seeds, and nothing else new."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from pareto_bench.plan import FULL, check_out_dir  # noqa: E402


def settings(plan) -> dict:
    return {"plan": plan.to_dict(), "data": "digest", "arm": False}


def test_more_variants_and_seeds_reuse_the_out_dir_and_other_changes_are_refused(tmp_path):
    first = replace(FULL, netadapt_variants=("netadapt-latency",), netadapt_seeds=(0,))
    check_out_dir(tmp_path, settings(first))
    wider = replace(first, netadapt_variants=("netadapt-latency", "netadapt-macs"), netadapt_seeds=(0, 1))
    check_out_dir(tmp_path, settings(wider))
    assert json.loads((tmp_path / "plan.json").read_text())["plan"]["netadapt_seeds"] == [0, 1]
    with pytest.raises(SystemExit, match="different plan"):
        check_out_dir(tmp_path, settings(replace(wider, long_term_epochs=3)))
    with pytest.raises(SystemExit, match="different plan"):
        check_out_dir(tmp_path, {**settings(wider), "arm": True})
