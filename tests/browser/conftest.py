"""The dashboard and the transparency page in a real browser.

Per store (SQLite, PostgreSQL) one real server for all the browser tests: a store loaded
by `emergency demo` (a typhoon over real communes and its relief campaign),
tokens in the token store, then `emergency serve` as a subprocess on a free
port (`tests.support.browser`). Debian's Chromium, driven by Playwright,
opens the pages; every test saves screenshots under `test-artifacts/`.

Without Chromium or Playwright the tests skip, unless EMERGENCY_REQUIRE_ALL=1
makes that a failure (`infra/chromium.sh` installs Chromium).
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

from api.tokens import TokenStore
from infra.settings import Settings
from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.browser import Page, Serve, Server, cli, demo_campaign, server_env, tab
from tests.support.stores import fresh_store, missing

DEMO_HOUSEHOLDS = 160


@pytest.fixture(scope="package", params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    with fresh_store(request.param, tmp_path_factory.mktemp("browser")) as settings:
        yield request.param, settings


@pytest.fixture(scope="package")
def server(store: tuple[str, Settings], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    name, settings = store
    folder = tmp_path_factory.mktemp("server")
    env = server_env(settings)
    statement = folder / "statement.csv"
    cli(env, "demo", "--households", str(DEMO_HOUSEHOLDS), "--provinces", "5", "--contributions", "1500",
        "--statement", str(statement))
    campaign = demo_campaign(settings, statement)
    tokens = TokenStore.from_settings(settings)  # the store `emergency token create` writes to
    coordinator = tokens.create("Điều phối viên tỉnh", "coordinator")[1]
    field = tokens.create("Đội xã", "field", ("31",))[1]
    serve = Serve(env, folder / "server.log")
    serve.start()
    try:
        yield Server(serve.url, name, coordinator, field, campaign)
    finally:
        serve.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed", "pip install -e '.[test]'")
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"no Chromium at {CHROMIUM}", "run infra/chromium.sh")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: Server, request: pytest.FixtureRequest) -> Iterator[Page]:
    with tab(browser, server, request.node.originalname) as opened:
        yield opened
