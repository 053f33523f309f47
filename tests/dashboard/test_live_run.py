"""One real run (the digits CNN, pruned by the real engine in the server's worker) watched
on the run page in Chromium: an iteration finishing appears without a reload, then the
Cancel button stops the run."""

from __future__ import annotations

import pytest

from service.client import NetAdaptClient
from tests.device_agent.live import free_port
from tests.helpers.server_process import ServerProcess
from tests.integration.test_rest_runs import SMALL_RUN
from tests.server.conftest import API_TOKEN

pytestmark = pytest.mark.slow

# The end-to-end tests' short run, with more iterations than this test waits for, so the
# run is still going when Cancel is pressed.
LIVE_RUN = {**SMALL_RUN, "budget": 0.3, "engine": {"max_iterations": 6}}


def test_a_real_run_updates_the_page_live_and_cancels(page, tmp_path, trained_digits_model, screenshot_dir):
    with ServerProcess(tmp_path / "data", free_port()) as server, NetAdaptClient(server.base_url, API_TOKEN, timeout=120) as api:
        model = api.upload_model(trained_digits_model)
        run = api.create_run({"model_id": model["id"], **LIVE_RUN})
        page.goto(f"{server.base_url}/runs/{run['id']}")
        assert page.locator("#iterations tr.iteration").count() == 0
        page.wait_for_function("document.body.dataset.following === 'live'")
        page.evaluate("window.notReloaded = true")

        page.wait_for_function(
            "document.querySelectorAll('#iterations tr.iteration').length >= 1", timeout=240_000, polling=500
        )
        assert page.evaluate("window.notReloaded") is True
        assert page.locator("#run-status").inner_text() == "running"
        points = page.evaluate("document.getElementById('chart-accuracy').data.find(t => t.name === 'kept path').x.length")
        assert points >= 1
        page.screenshot(path=str(screenshot_dir / "real-run-live.png"), full_page=True)

        page.click("#cancel")
        page.wait_for_function(
            "document.getElementById('run-status').textContent === 'cancelled'", timeout=60_000, polling=500
        )
        assert page.evaluate("window.notReloaded") is True
        assert api.run(run["id"])["status"] == "cancelled"
        assert page.locator("#resume").is_enabled()
        page.screenshot(path=str(screenshot_dir / "real-run-cancelled.png"), full_page=True)
