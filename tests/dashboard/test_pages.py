"""The dashboard in a real headless Chromium against a live server with real data (stub
engine runs, agents, jobs, table entries): each page's rows and chart points, the run
page's live update without a reload, cancel and resume, the sign-in outside dev mode.
Fast: the server queues runs without executing them (max_concurrent_runs=0)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.db.session import Database
from service.netadapt import NetAdaptConfig
from service.runs import repository
from service.runs.history import iteration_rows, proposal_rows
from tests.dashboard import seed
from tests.server.conftest import API_TOKEN, LiveServer, make_settings, running_server


@pytest.fixture(scope="module")
def database(server: LiveServer) -> Iterator[Database]:
    database = Database.connect(server.settings.database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def data(server: LiveServer, database: Database) -> dict[str, Any]:
    finished = seed.finished_run(server, database)
    second = seed.finished_run(server, database)
    queued = seed.new_run(database, budget=0.6, start=False)
    with database.session() as session:
        found = seed.devices(session)
        found.update(seed.tables(session, found["profile"]))
    return {"finished": finished, "second": second, "queued": queued, **found}


def chart_traces(page: Any, element_id: str) -> dict[str, dict[str, Any]]:
    return page.evaluate(
        """id => Object.fromEntries(document.getElementById(id).data.map(
             t => [t.name, {x: Array.from(t.x), y: Array.from(t.y), text: t.text ? Array.from(t.text) : []}]))""",
        element_id,
    )


def shot(page: Any, folder: Any, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_runs_page_lists_runs_newest_first_and_filters_by_status(page, server, database, data, screenshot_dir):
    with database.session() as session:
        expected = [r.id for r in repository.list_runs(session)]
        finished = [r.id for r in repository.list_runs(session, ["finished"])]
    page.goto(server.base_url + "/")
    rows = page.locator("#runs tbody tr")
    assert rows.count() == len(expected) >= 3
    assert [rows.nth(i).get_attribute("data-run") for i in range(rows.count())] == expected
    assert "finished" in rows.first.inner_text() or "queued" in rows.first.inner_text()
    shot(page, screenshot_dir, "runs")

    page.select_option("#status-filter", "finished")
    page.wait_for_url("**/?status=finished")
    assert [r.get_attribute("data-run") for r in page.locator("#runs tbody tr").all()] == finished
    page.select_option("#status-filter", "failed")
    page.wait_for_url("**/?status=failed")
    assert page.locator("#runs").count() == 0
    assert "No failed runs" in page.locator(".empty").inner_text()


def test_run_page_shows_the_chart_channels_iterations_events_and_artifacts(page, server, database, data, screenshot_dir):
    run_id = data["finished"]
    with database.session() as session:
        run = repository.get_run(session, run_id)
        iterations, proposals = iteration_rows(run.state), proposal_rows(run.state)
        events = repository.events_after(session, run_id, 0, limit=10_000)
        groups = run.state["baseline"]["groups"]
    page.goto(f"{server.base_url}/runs/{run_id}")
    page.wait_for_function("document.getElementById('chart-accuracy').data !== undefined")

    traces = chart_traces(page, "chart-accuracy")
    assert len(traces["proposals"]["x"]) == len(proposals) == sum(i["proposals"] for i in iterations)
    assert len(traces["kept path"]["x"]) == len(iterations) >= 2
    assert traces["kept path"]["x"] == [i["cost"] for i in iterations]
    assert traces["baseline"]["x"] == [run.baseline_cost]
    first = proposals[0]
    assert f"{first['group']} -> {first['channels']} ch" in traces["proposals"]["text"][0]  # the hover text
    budget = page.evaluate("document.getElementById('chart-accuracy').layout.shapes.map(s => s.x0)")
    assert budget == [run.budget_cost]

    bars = chart_traces(page, "chart-channels")
    assert bars["original"]["x"] == list(groups) and bars["original"]["y"] == list(groups.values())
    assert bars["now"]["y"] == [iterations[-1]["group_channels"][g] for g in groups]

    rows = page.locator("#iterations tr.iteration")
    assert rows.count() == len(iterations)
    drill = rows.first.locator("details")
    assert not drill.locator("tr.proposal").first.is_visible()
    drill.locator("summary").click()
    assert drill.locator("tr.proposal").count() == iterations[0]["proposals"]
    assert drill.locator("tr.proposal.kept").count() == 1
    assert page.locator("#events li").count() == len(events)
    assert page.locator("#cancel").is_disabled() and page.locator("#resume").is_disabled()

    link = page.locator("#artifacts a", has_text="report.json")
    response = page.request.get(server.base_url + link.get_attribute("href"))
    assert response.status == 200 and response.json()["summary"]["iterations"] == len(iterations)
    shot(page, screenshot_dir, "run")


def test_run_page_marks_proposals_that_were_only_prescreened(page, server, database, screenshot_dir):
    config = seed.stub_config()
    run_id = seed.finished_run(server, database, NetAdaptConfig(**{**config.to_dict(), "prescreen": 1}))
    with database.session() as session:
        iterations = iteration_rows(repository.get_run(session, run_id).state)
    assert iterations[0]["proposals"] > 1
    page.goto(f"{server.base_url}/runs/{run_id}")
    page.wait_for_function("document.getElementById('chart-accuracy').data !== undefined")
    # Only fine-tuned proposals are points of the accuracy chart: one per iteration.
    assert len(chart_traces(page, "chart-accuracy")["proposals"]["x"]) == len(iterations)
    drill = page.locator("#iterations tr.iteration").first.locator("details")
    drill.locator("summary").click()
    assert drill.locator("tr.proposal").count() == iterations[0]["proposals"]
    prescreened = drill.locator("tr.proposal", has_text="(prescreen)")
    assert prescreened.count() == iterations[0]["proposals"] - 1
    assert drill.locator("tr.proposal.kept", has_text="(prescreen)").count() == 0
    shot(page, screenshot_dir, "run-prescreen")


def test_run_page_updates_live_while_the_run_progresses(page, server, database, data, screenshot_dir):
    paused = seed.PausedRun(database, pause_at=1).start()  # iteration 0 finished, 1 started
    page.goto(f"{server.base_url}/runs/{paused.run_id}")
    assert page.locator("#iterations tr.iteration").count() == 1
    assert page.locator("#run-status").inner_text() == "running"
    page.wait_for_function("document.body.dataset.following === 'live'")
    page.evaluate("window.notReloaded = true")
    shot(page, screenshot_dir, "run-live-before")

    report = paused.finish()  # the engine completes its iterations, then the run is finished
    total = len(report["iterations"])
    assert total >= 2
    page.wait_for_function(
        "n => document.querySelectorAll('#iterations tr.iteration').length === n", arg=total, timeout=15_000
    )
    page.wait_for_function("document.getElementById('run-status').textContent === 'finished'")
    assert page.evaluate("window.notReloaded") is True
    traces = chart_traces(page, "chart-accuracy")
    assert len(traces["kept path"]["x"]) == total
    assert len(traces["proposals"]["x"]) == sum(len(i["proposals"]) for i in report["iterations"])
    shot(page, screenshot_dir, "run-live-after")


def test_cancel_and_resume_buttons(page, server, data, screenshot_dir):
    page.goto(f"{server.base_url}/runs/{data['queued']}")
    assert page.locator("#run-status").inner_text() == "queued"
    assert page.locator("#resume").is_disabled()
    page.click("#cancel")
    page.wait_for_function("document.getElementById('run-status').textContent === 'cancelled'")
    assert "Cancel requested" in page.locator("#run-message").inner_text()
    assert page.locator("#cancel").is_disabled()
    shot(page, screenshot_dir, "run-cancelled")
    page.click("#resume")
    page.wait_for_function("document.getElementById('run-status').textContent === 'queued'")
    assert page.locator("#cancel").is_enabled()


def test_devices_page_shows_profiles_agents_and_queue_depth(page, server, database, data, screenshot_dir):
    with database.session() as session:
        seed.heartbeat(session, data["online"])
    page.goto(server.base_url + "/devices")
    profile = page.locator(f'section.profile[data-profile="{data["profile"]}"]')
    assert f"Queue depth {data['jobs_queued']}" in profile.inner_text()
    agents = profile.locator("tr.agent")
    assert agents.count() == 2
    online = profile.locator(f'tr.agent[data-agent="{data["online"]}"]').inner_text()
    offline = profile.locator(f'tr.agent[data-agent="{data["offline"]}"]').inner_text()
    assert "online" in online and "12" in online
    assert "offline" in offline and "7" in offline and "2" in offline
    bare = page.locator(f'section.profile[data-profile="{data["bare_profile"]}"]')
    assert "Queue depth 0" in bare.inner_text() and bare.locator("tr.agent").count() == 1
    shot(page, screenshot_dir, "devices")


def test_tables_page_shows_entries_estimates_and_errors(page, server, data, screenshot_dir):
    page.goto(server.base_url + "/tables")
    card = page.locator(f'section.table-card[data-table="{data["profile"]}-latency_ms"]')
    assert card.locator(".entry-count").inner_text() == str(data["entries"])
    page.wait_for_function(
        "el => el.querySelector('[data-chart=errors]').data !== undefined", arg=card.element_handle()
    )
    scatter = card.locator('[data-chart="estimate"]').evaluate("el => el.data[0].x.length")
    histogram = card.locator('[data-chart="errors"]').evaluate("el => el.data[0].y.reduce((a, b) => a + b, 0)")
    assert scatter == histogram == data["measurements"]
    bare = page.locator(f'section.table-card[data-table="{data["bare_profile"]}-instructions"]')
    assert bare.locator(".entry-count").inner_text() == "0" and bare.locator(".empty").count() == 1
    shot(page, screenshot_dir, "tables")


def test_unknown_run_shows_a_message(page, server, data):
    response = page.goto(f"{server.base_url}/runs/no-such-run")
    assert response.status == 404
    assert "There is no run 'no-such-run'" in page.locator(".message.error").inner_text()
    # Chromium logs the document's own 404 status; that one is expected, nothing else is.
    assert len(page.console_log.errors) == 1 and "status of 404" in page.console_log.errors[0]
    page.console_log.errors.clear()


def test_empty_server_pages_say_what_to_do(page, tmp_path, screenshot_dir):
    with running_server(make_settings(tmp_path / "data", max_concurrent_runs=0)) as empty:
        for path, words in [("/", "No runs yet"), ("/devices", "No device profiles yet"), ("/tables", "No lookup tables yet")]:
            page.goto(empty.base_url + path)
            assert words in page.locator(".empty").inner_text()
        shot(page, screenshot_dir, "runs-empty")


def test_outside_dev_mode_the_pages_need_the_api_token(page, tmp_path, screenshot_dir):
    settings = make_settings(tmp_path / "data", max_concurrent_runs=0, dev_mode=False)
    with running_server(settings) as secure:
        assert httpx.get(f"{secure.base_url}/dashboard/api/runs/x/view").status_code == 401
        page.goto(secure.base_url + "/devices")
        assert page.url.startswith(secure.base_url + "/login")
        page.fill("input[name=token]", "not-the-token")
        page.click("button[type=submit]")
        assert "not this server's API token" in page.locator(".message.error").inner_text()
        shot(page, screenshot_dir, "login")
        page.fill("input[name=token]", API_TOKEN)
        page.click("button[type=submit]")
        page.wait_for_url(secure.base_url + "/devices")
        assert API_TOKEN not in page.content()
        cookies = page.context.cookies()
        assert [c["httpOnly"] for c in cookies] == [True] and API_TOKEN not in cookies[0]["value"]
