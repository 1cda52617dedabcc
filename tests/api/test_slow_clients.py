"""Slow and many clients: headers sent a byte at a time are cut off, a body
sent a byte at a time gets 408, and connections beyond the bound get 503
before the server reads anything from them."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from typing import AsyncIterator

import pytest

from api.tokens import TokenStore
from infra.settings import Settings
from tests.support.api import running

pytestmark = pytest.mark.usefixtures("storm_clock")
DRIP_SECONDS = 0.25


@asynccontextmanager
async def server(settings: Settings, **limits: float) -> AsyncIterator[tuple[str, int]]:
    async with running(settings.model_copy(update=limits)) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """What the server sent before it closed (or cut) the connection."""
    try:
        return await asyncio.wait_for(reader.read(), timeout=10)
    except ConnectionError:
        return b""


async def test_headers_sent_a_byte_at_a_time_are_cut_off(settings: Settings):
    async with server(settings, header_timeout_seconds=1.0) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 40 + b"\r\n\r\n"
        sent = 0
        for byte in request:  # 60 bytes: 15 s at this pace, if nothing cut it off
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
            if reader.at_eof() or reader._buffer:  # the server closed or answered
                break
            await asyncio.sleep(DRIP_SECONDS)
        received = await closed_by_server(reader)
        writer.close()
        assert sent < len(request), "the server waited for every byte"
        assert b"200 OK" not in received


async def test_a_body_sent_a_byte_at_a_time_gets_408(settings: Settings):
    async with server(settings, body_timeout_seconds=1.0, header_timeout_seconds=30.0) as (host, port):
        token = TokenStore.from_settings(settings).create("slow", "coordinator")[1]
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"POST /incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + token.encode() + b"\r\nContent-Length: 200\r\n\r\n")
        for _ in range(40):
            if reader._buffer or reader.at_eof():
                break
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(DRIP_SECONDS)
        status = await asyncio.wait_for(reader.readline(), timeout=10)
        assert b" 408 " in status, status
        headers = {}
        while (line := (await reader.readline()).strip()):
            name, _, value = line.decode().partition(":")
            headers[name.lower()] = value.strip()
        body = await reader.readexactly(int(headers["content-length"]))
        assert json.loads(body)["error"] == "body_timeout" and headers["connection"] == "close"
        writer.close()


async def test_connections_beyond_the_bound_get_503(settings: Settings):
    async with server(settings, max_connections=4, header_timeout_seconds=30.0) as (host, port):
        held = [await asyncio.open_connection(host, port) for _ in range(4)]
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection(host, port)
        refused = await closed_by_server(reader)
        assert refused.startswith(b"HTTP/1.1 503 "), refused
        assert json.loads(refused.partition(b"\r\n\r\n")[2])["error"] == "too_many_connections"
        writer.close()

        # One held connection closes: a new client is served again.
        held[0][1].close()
        await held[0][1].wait_closed()
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await closed_by_server(reader)).startswith(b"HTTP/1.1 200 ")
        for _, held_writer in [*held[1:], (reader, writer)]:
            held_writer.close()
