"""A real API server per test, listening on a free port, over the store the
`settings` fixture names (SQLite and PostgreSQL), and a client that talks to
it over HTTP with `aiohttp.ClientSession`.

The clock is frozen two days into the storm (`storm_clock`), so deadlines and
"in the future" mean the same on every run.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from api.app import create_app
from api.server import BoundedSite, app_runner
from api.tokens import TokenStore
from infra.settings import Settings
from tests.support import payloads
from tests.support.factories import PROVINCE


@dataclass
class Reply:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]

    @property
    def error(self) -> tuple[str, str | None]:
        """(error code, field) of a refusal."""
        return self.body["error"], self.body["field"]


class Api:
    """The server under test, seen from a client."""

    def __init__(self, session: aiohttp.ClientSession, url: str, tokens: TokenStore):
        self.session = session
        self.url = url
        self.tokens = tokens
        self._auditor = self.token("auditor")

    def token(self, role: str, *scope: str, name: str | None = None) -> str:
        return self.tokens.create(name or f"test {role}", role, scope)[1]

    async def call(self, method: str, path: str, token: str | None = None, *, json: Any = None,
                   data: bytes | None = None, key: str | None = None,
                   headers: dict[str, str] | None = None) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if key is not None:
            sent["Idempotency-Key"] = key
        async with self.session.request(method, self.url + path, json=json, data=data, headers=sent) as response:
            raw = await response.read()
            body = await response.json() if response.content_type == "application/json" else raw
            return Reply(response.status, body, response.headers)

    async def post(self, path: str, token: str | None, json: Any = None, **kwargs: Any) -> Reply:
        return await self.call("POST", path, token, json=json, **kwargs)

    async def get(self, path: str, token: str | None = None, **kwargs: Any) -> Reply:
        return await self.call("GET", path, token, **kwargs)

    async def raw(self, method: str, path: str, token: str, headers: dict[str, str], body: bytes = b"") -> Reply:
        """A request written by hand on a socket (for bodies a client library
        would not send as they are, e.g. a Content-Length with no body yet)."""
        host, port = self.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Authorization: Bearer {token}",
                 *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        status = int((await reader.readline()).split()[1])
        received: dict[str, str] = {}
        while (line := (await reader.readline()).decode().strip()):
            name, _, value = line.partition(":")
            received[name.strip()] = value.strip()
        content = await reader.readexactly(int(received["Content-Length"]))
        writer.close()
        await writer.wait_closed()
        return Reply(status, json.loads(content), CIMultiDictProxy(CIMultiDict(received)))

    async def created(self, path: str, token: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """POST that must succeed; its result."""
        reply = await self.post(path, token, body, **kwargs)
        assert reply.status == 201, reply.body
        return reply.body["result"]

    async def events(self, after: int = 0) -> list[dict[str, Any]]:
        """Every event after `after`, paged through the history route."""
        found: list[dict[str, Any]] = []
        while True:
            reply = await self.get(f"/events?after={after}&limit=1000", self._auditor)
            assert reply.status == 200, reply.body
            found += reply.body["events"]
            if not reply.body["events"]:
                return found
            after = reply.body["next_after"]

    async def head(self) -> int:
        """The log's last notification id (from /healthz)."""
        reply = await self.get("/healthz")
        assert reply.status == 200, reply.body
        return reply.body["last_notification_id"]


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The settings the API is served with (a test module may override this fixture)."""
    return settings


@asynccontextmanager
async def running(settings: Settings, current: bool = True) -> AsyncIterator[str]:
    """The API served on a free local port; yields its base URL once its
    views are current (`current=False`: as soon as it listens)."""
    runner = app_runner(create_app(settings), settings)
    await runner.setup()
    try:
        site = BoundedSite(runner, "127.0.0.1", 0, settings.max_connections)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{host}:{port}"
        if current:
            await _until_current(url)
        yield url
    finally:
        await runner.cleanup()


async def _until_current(url: str) -> None:
    """A server on a log written before it started catches up first."""
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            async with session.get(f"{url}/healthz") as reply:
                if reply.status == 200 or (await reply.json())["status"] != "catching_up":
                    return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{url} did not catch up")


@pytest.fixture
async def api(api_settings: Settings, storm_clock: None) -> AsyncIterator[Api]:
    async with running(api_settings) as url, aiohttp.ClientSession() as session:
        yield Api(session, url, TokenStore.from_settings(api_settings))


@dataclass
class Storm:
    """An open incident over the test areas, and a coordinator to run it."""

    coordinator: str
    incident_id: str


@pytest.fixture
async def storm(api: Api) -> Storm:
    coordinator = api.token("coordinator")
    result = await api.created("/incidents", coordinator, payloads.incident())
    return Storm(coordinator, result["incident_id"])


@dataclass
class Household:
    """A household registered and assessed by a field team of its province."""

    storm: Storm
    field: str
    household_id: str

    @property
    def path(self) -> str:
        return f"/households/{self.household_id}"


@pytest.fixture
async def household(api: Api, storm: Storm) -> Household:
    field = api.token("field", PROVINCE)
    result = await api.created("/households", field, payloads.household(storm.incident_id))
    await api.created(f"/households/{result['household_id']}/assessments", field, payloads.assessment())
    return Household(storm, field, result["household_id"])
