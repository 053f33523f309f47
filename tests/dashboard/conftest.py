"""Browser fixtures for the dashboard tests: Debian's Chromium driven by Playwright for
Python (executable_path; Playwright never downloads a browser), one page per test whose
JavaScript console must stay free of errors, and a screenshot folder printed at the end.

Setup: `bash scripts/setup_test_env.sh` (installs `chromium`) and `pip install -e .[test]`
(installs `playwright`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.conftest import LiveServer, make_settings, running_server

CHROMIUM = os.environ.get("NETADAPT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 900}  # a laptop screen
_SCREENSHOTS: list[Path] = []


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    folder = os.environ.get("NETADAPT_SCREENSHOTS")
    path = Path(folder) if folder else Path(tempfile.gettempdir()) / "netadapt-dashboard-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    _SCREENSHOTS.append(path)
    return path


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    for path in _SCREENSHOTS:
        terminalreporter.write_line(f"dashboard screenshots: {path}")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(f"no Chromium at {CHROMIUM}: run scripts/setup_test_env.sh (Debian package 'chromium')")
    profile = tempfile.mkdtemp(prefix="netadapt-chromium-")
    with sync_playwright() as playwright:
        # launch() gives the browser a fresh temporary profile; --user-data-dir may not be
        # passed as an argument (Playwright refuses it), so the profile folder is its own.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True, env={**os.environ, "HOME": profile}
        )
        try:
            yield browser
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)


class ConsoleLog:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def on_console(self, message) -> None:  # noqa: ANN001
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location})")

    def on_page_error(self, error) -> None:  # noqa: ANN001
        self.errors.append(f"uncaught: {error}")


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh browser context and page; the test fails if JavaScript logged an error."""
    context = browser.new_context(viewport=VIEWPORT)
    # Waits end when the condition holds; the bound only matters on a loaded machine.
    context.set_default_timeout(60_000)
    page = context.new_page()
    log = ConsoleLog()
    page.on("console", log.on_console)
    page.on("pageerror", log.on_page_error)
    page.console_log = log
    try:
        yield page
    finally:
        context.close()
    assert log.errors == [], "JavaScript console errors:\n" + "\n".join(log.errors)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server per test module that starts no runs: the pages show what a test seeds."""
    settings = make_settings(tmp_path_factory.mktemp("dashboard") / "data", max_concurrent_runs=0)
    with running_server(settings) as live:
        yield live
