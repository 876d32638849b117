"""The service on a real port with a demo database, and headless Chromium driven by Playwright.

Chromium comes from Debian's packages (``chromium``), not from Playwright's own download: the
set-up installs it (``.ci/run``), and these tests are skipped where it is missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from possible.service.app import create_app
from possible.service.demo import seed_demo
from possible.service.settings import Settings

CHROMIUM = os.environ.get("POSSIBLE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENS = Path(__file__).parents[2] / "test-output" / "screens"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("web") / "registry.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}", secret_key="web-test-" + "x" * 40))
    seed_demo(app.state.db, patients=80, seed=7)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("POSSIBLE_REQUIRE_BROWSER"):
            pytest.fail(f"no Chromium at {CHROMIUM}, and POSSIBLE_REQUIRE_BROWSER is set")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object, server: str) -> Iterator[object]:
    SCREENS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(base_url=server, viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
