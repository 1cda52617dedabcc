"""The pages under test: `emergency serve` as a subprocess on a free port,
a client of it, and browser tabs that fail the test on any script error or
refused request they see (screenshots go under `test-artifacts/`)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from infra.settings import Settings
from infra.stores import build_service

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ROOT = Path(__file__).resolve().parents[2]
SERVER_START_SECONDS = 60
# The browser runs in a zone far from Vietnam: every time the pages show must still be Vietnam time.
BROWSER_ZONE = "America/New_York"


@dataclass
class Campaign:
    """What the test knows of the campaign it loaded, beyond what the public may see."""

    campaign_id: str
    households: list[str]
    statement: Path  # the bank statement imported: remitters' real names, anonymous or not


@dataclass
class Site:
    """A running server, seen from a client."""

    url: str
    store: str

    def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        """One request to the API, as any client would make it."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def get(self, path: str, token: str | None = None) -> Any:
        status, body = self.call("GET", path, token)
        assert status == 200, (path, status, body)
        return body


@dataclass
class Server(Site):
    coordinator: str  # a coordinator's bearer token
    field: str  # a field team's token, which the dashboard must refuse
    campaign: Campaign


class Serve:
    """`emergency serve` as a subprocess on a port of its own, logging to a
    file; a test may kill it (as a crash would) and start it again."""

    def __init__(self, env: dict[str, str], log: Path):
        self.env = env
        self.log_path = log
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        port = self.url.rpartition(":")[2]
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "infra.cli", "serve", "--port", port],
                                            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _wait_until_healthy(self.url, self.process, self.log_path)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(15)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "infra.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"emergency {' '.join(args)} failed:\n{done.stderr[-3000:]}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def demo_campaign(settings: Settings, statement: Path) -> Campaign:
    """The demo's relief campaign, and every household of the store (none may reach the public page)."""
    service = build_service(settings)
    try:
        events = service.log(0, 1_000_000)
    finally:
        service.app.close()
    [campaign] = [e.aggregate_id for e in events if e.kind == "Campaign.Launched"]
    return Campaign(campaign, [e.aggregate_id for e in events if e.kind == "HouseholdCase.Registered"], statement)


def server_env(settings: Settings) -> dict[str, str]:
    """The environment `emergency` commands need to work on `settings`' store."""
    return {**os.environ, "EMERGENCY_DATABASE_URL": settings.database_url,
            "EMERGENCY_VIEWS_DATABASE_URL": settings.views_database_url or "", "EMERGENCY_LOG_FORMAT": "json"}


def _wait_until_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"emergency serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if Site(url, "").call("GET", "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"emergency serve did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}")


class Page:
    """A browser tab on the server, which fails the test on any script error or
    refused request it sees (a Content-Security-Policy violation included)."""

    def __init__(self, page: Any, server: Site, test_name: str):
        self.page = page
        self.server = server
        self.test_name = test_name
        self.problems: list[str] = []
        self.expected: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error" and not any(text in message.text for text in self.expected):
            self.problems.append(f"console: {message.text}")

    def expect_console_error(self, text: str) -> None:
        """A refusal the test provokes on purpose (the browser logs refused requests)."""
        self.expected.append(text)

    def open(self, path: str) -> None:
        self.page.goto(self.server.url + path)

    def screenshot(self, step: str) -> Path:
        """The whole page, once it has read everything it asked for."""
        self.page.locator("body:not([data-loading])").wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{step}-{self.server.store}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def figure(self, element_id: str) -> str:
        """The raw value a figure shows (its data-value)."""
        return self.page.locator(f"#{element_id}").get_attribute("data-value") or ""

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()


@contextmanager
def tab(browser: Any, site: Site, test_name: str, **options: Any) -> Iterator[Page]:
    """A tab in a browser context of its own (its own storage), closed after;
    the test fails on any problem the tab saw."""
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 900}, "timezone_id": BROWSER_ZONE,
                                     "locale": "en-US", "reduced_motion": "reduce", **options})
    context.set_default_timeout(15_000)
    opened = Page(context.new_page(), site, test_name)
    try:
        yield opened
    finally:
        context.close()
    assert not opened.problems, opened.problems
