"""device_agent must run on a board with only numpy, LiteRT, httpx and flatbuffers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("tensorflow", "keras", "fastapi", "sqlalchemy", "service", "pydantic", "uvicorn", "pandas", "tf_keras")

# Import every module of the package (runner, cli, both backends, the callgrind runner's
# helpers), then list what got loaded.
PROBE = """
import importlib, json, pkgutil, sys
import device_agent
names = [m.name for m in pkgutil.walk_packages(device_agent.__path__, "device_agent.")]
for name in names:
    if not name.endswith("__main__"):
        importlib.import_module(name)
print(json.dumps({"imported": names, "modules": sorted(sys.modules)}))
"""


def test_device_agent_imports_no_server_or_training_stack() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "device_agent.runner" in report["imported"] and "device_agent.backends.host_instructions" in report["imported"]
    loaded = {m.split(".")[0] for m in report["modules"]}
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
    assert {"numpy", "ai_edge_litert", "httpx", "latency_tables"} <= loaded
