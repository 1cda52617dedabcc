"""A scoped token sees only its area, on every route the API describes.

The walk reads `/openapi.json` and calls every GET route in it, so a route
added later is walked too: path parameters take each record id the test
knows, required query parameters a value by name, streams are read for a
moment (`after=0`: from the start of the feed), WebSockets (`x-upgrade`) are
opened. Nothing outside the token's province may come back: not the other
household's id, nor its head's name.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import aiohttp

from tests.support import payloads
from tests.support.api import Api, Household
from tests.support.factories import PROVINCE

OUTSIDE_NAME = "Trần Văn Bảy"
STREAM_SECONDS = 1.5


async def _read_stream(api: Api, url: str, token: str) -> tuple[int, str]:
    async with api.session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
        if response.status != 200 or response.content_type != "text/event-stream":
            return response.status, await response.text()
        received = b""
        try:
            async with asyncio.timeout(STREAM_SECONDS):
                async for chunk in response.content.iter_any():
                    received += chunk
        except TimeoutError:
            pass
        return response.status, received.decode()


async def _read_websocket(api: Api, url: str, token: str) -> tuple[int, str]:
    try:
        ws = await api.session.ws_connect(url.replace("http://", "ws://"),
                                          headers={"Authorization": f"Bearer {token}"})
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status, refused.message
    received = []
    try:
        async with asyncio.timeout(STREAM_SECONDS):
            async for message in ws:
                received.append(message.data)
    except TimeoutError:
        pass
    await ws.close()
    return 200, "".join(str(m) for m in received)


def _urls(path: str, operation: dict[str, Any], ids: list[str], query_values: dict[str, str]) -> list[str]:
    names = re.findall(r"\{(\w+)\}", path)
    query = {p["name"]: query_values[p["name"]] for p in operation.get("parameters", [])
             if p["in"] == "query" and (p.get("required") or p["name"] == "after") and p["name"] in query_values}
    missing = [p["name"] for p in operation.get("parameters", [])
               if p["in"] == "query" and p.get("required") and p["name"] not in query_values]
    assert not missing, f"{path}: the walk has no value for required parameters {missing}"
    urls = []
    for values in itertools.product(ids, repeat=len(names)):
        filled = path
        for name, value in zip(names, values):
            filled = filled.replace("{" + name + "}", value)
        urls.append(filled + ("?" + urlencode(query) if query else ""))
    return urls


async def test_a_scoped_token_sees_only_its_area_on_every_route(api: Api, household: Household):
    coordinator = household.storm.coordinator
    incident = household.storm.incident_id
    outside = (await api.created("/households", coordinator, payloads.household(
        incident, commune_code=payloads.QUANG_NINH, head_name=OUTSIDE_NAME)))["household_id"]
    await api.created(f"/households/{outside}/assessments", coordinator, payloads.assessment())
    await api.created(f"/households/{outside}/decisions", coordinator, payloads.decision())
    secrets = (outside, OUTSIDE_NAME)

    doc = (await api.get("/openapi.json")).body
    ids = [incident, household.household_id, outside, str(uuid4())]
    query_values = {"incident": incident, "reference": "FT0001", "after": "0", "province": "22",
                    "commune": payloads.QUANG_NINH}
    tokens = {role: api.token(role, PROVINCE) for role in ("field", "coordinator", "auditor", "admin")}
    walked, leaks = 0, {}
    for path, operations in doc["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        success = operation["responses"].get("200", {}).get("content", {})
        for role, token in tokens.items():
            for url in _urls(path, operation, ids, query_values):
                if operation.get("x-upgrade") == "websocket":
                    status, text = await _read_websocket(api, api.url + url, token)
                elif "text/event-stream" in success:
                    status, text = await _read_stream(api, api.url + url, token)
                else:
                    reply = await api.get(url, token)
                    status, text = reply.status, str(reply.body)
                walked += 1
                assert status < 500, (url, role, text)
                # A refusal may repeat the id the caller sent; nothing else may show.
                shown = [secret for secret in secrets if secret in text and not (status >= 400 and secret in url)]
                if shown:
                    leaks[(role, url)] = status
    assert walked > 50
    assert not leaks, leaks
