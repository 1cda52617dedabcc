"""Several API processes on one store: they start together on a new schema,
exactly one of them projects (the others read what it writes), and the
change feed holds each change once, as a rebuild from the log does."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from api.tokens import TokenStore
from infra.settings import Settings
from infra.stores import build_service
from projections.catalog import default_projections, open_views
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import open_view_store
from tests.api.test_cli import _env, free_port
from tests.support import payloads
from tests.support.api import Api, running

pytestmark = pytest.mark.usefixtures("storm_clock")


def change_rows(settings: Settings) -> tuple[int, int]:
    """(rows in the views' change feed, rows a rebuild from the log writes)."""
    views = open_views(settings)
    service = build_service(settings)
    try:
        rebuilt = ProjectionSet(open_view_store("sqlite:///:memory:"), default_projections())
        EmbeddedRunner(service.app.recorder, rebuilt).catch_up()
        counts = []
        for store in (views.store, rebuilt.store):
            with store.read() as cur:
                counts.append(cur.execute("SELECT COUNT(*) FROM case_changes").fetchone()[0])
        return counts[0], counts[1]
    finally:
        views.close()
        service.app.close()


async def write_through(apis: list[Api], households: int) -> None:
    coordinators = [api.token("coordinator") for api in apis]
    incident = (await apis[0].created("/incidents", coordinators[0], payloads.incident()))["incident_id"]
    for n in range(households):
        api, token = apis[n % len(apis)], coordinators[n % len(apis)]
        household = (await api.created("/households", token, payloads.household(incident)))["household_id"]
        await api.created(f"/households/{household}/assessments", token, payloads.assessment())


async def health(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    try:
        async with session.get(f"{url}/healthz") as reply:
            return await reply.json() if reply.status == 200 else None
    except aiohttp.ClientConnectionError:
        return None


async def all_current(session: aiohttp.ClientSession, urls: list[str]) -> list[dict[str, Any]]:
    for _ in range(300):
        found = [await health(session, url) for url in urls]
        heads = {h["last_notification_id"] for h in found if h}
        if all(h and h["projections"]["position"] == h["last_notification_id"] for h in found) and len(heads) == 1:
            return found  # type: ignore[return-value]
        await asyncio.sleep(0.1)
    raise AssertionError(f"the servers did not all come up current: {found}")


async def test_two_servers_on_one_store_write_each_change_once(settings: Settings):
    async with running(settings) as first, running(settings) as second, aiohttp.ClientSession() as session:
        tokens = TokenStore.from_settings(settings)
        apis = [Api(session, first, tokens), Api(session, second, tokens)]
        await write_through(apis, households=6)
        states = await all_current(session, [first, second])
    assert sorted(s["projections"]["projector"] for s in states) == [False, True]
    stored, rebuilt = change_rows(settings)
    assert stored == rebuilt > 0


@pytest.mark.parametrize("projector", ["embedded", "external"])
async def test_servers_started_together_on_a_new_schema_all_serve(postgres_url: str, projector: str):
    settings = Settings(database_url=postgres_url)
    ports = [free_port() for _ in range(4)]
    processes = [subprocess.Popen([sys.executable, "-m", "infra.cli", "--database-url", postgres_url, "serve",
                                   "--port", str(port), "--projector", projector], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, env=_env()) for port in ports]
    if projector == "external":  # started with them, on the same new schema
        processes.append(start_projector(settings))
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                if all([await health(session, url) for url in urls]) or any(p.poll() is not None for p in processes):
                    break
                await asyncio.sleep(0.1)
            assert all(p.poll() is None for p in processes), [p.communicate()[1][-2000:] for p in processes
                                                             if p.poll() is not None]
            tokens = TokenStore.from_settings(settings)
            await write_through([Api(session, url, tokens) for url in urls], households=8)
            states = await all_current(session, urls)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.communicate(timeout=30)
    assert sum(s["projections"]["projector"] for s in states) == (1 if projector == "embedded" else 0)
    stored, rebuilt = change_rows(settings)
    assert stored == rebuilt > 0


def start_projector(settings: Settings) -> subprocess.Popen[str]:
    env = {**_env(), "EMERGENCY_VIEWS_DATABASE_URL": settings.views_database_url}
    return subprocess.Popen([sys.executable, "-m", "infra.cli", "--database-url", settings.database_url, "project",
                             "--poll-seconds", "0.02"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env=env)


async def test_servers_with_an_external_projector_read_its_views_and_never_write_them(settings: Settings):
    followers = settings.model_copy(update={"projector": "external"})
    projector = start_projector(settings)
    try:
        async with running(followers) as first, running(followers) as second, \
                aiohttp.ClientSession() as session:
            tokens = TokenStore.from_settings(settings)
            apis = [Api(session, first, tokens), Api(session, second, tokens)]
            await write_through(apis, households=6)  # each write waits until the projector's views include it
            states = await all_current(session, [first, second])
            assert [s["projections"]["projector"] for s in states] == [False, False]
            projector.terminate()
            assert projector.wait(timeout=30) == 0, projector.communicate()[1][-2000:]
            await write_through(apis[:1], households=1)  # no projector now: the views stay where they were
            await asyncio.sleep(1)
            async with session.get(f"{first}/healthz") as reply:  # 503 now: the views lag the log
                after = await reply.json()
            assert after["projections"]["position"] == states[0]["last_notification_id"] < after["last_notification_id"]
    finally:
        if projector.poll() is None:
            projector.terminate()
            projector.communicate(timeout=30)
    stored, rebuilt = change_rows(settings.model_copy(update={"projector": "embedded"}))
    assert 0 < stored < rebuilt  # the views hold the first writes once each; the last one was never projected


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


async def test_serve_with_workers_runs_that_many_processes_on_one_port(settings: Settings):
    port = free_port()
    parent = subprocess.Popen([sys.executable, "-m", "infra.cli", "--database-url", settings.database_url, "serve",
                               "--port", str(port), "--workers", "2"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True,
                              env={**_env(), "EMERGENCY_VIEWS_DATABASE_URL": settings.views_database_url})
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                if await health(session, url) or parent.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            workers = children(parent.pid)
            assert len(workers) == 2, parent.communicate(timeout=30)[1][-2000:]
            await write_through([Api(session, url, TokenStore.from_settings(settings))], households=6)
            await all_current(session, [url])
    finally:
        parent.terminate()
        _, errors = parent.communicate(timeout=60)
    assert parent.returncode == 0, errors[-2000:]
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    stored, rebuilt = change_rows(settings)
    assert stored == rebuilt > 0


def test_serve_with_workers_stopped_while_they_start_exits_cleanly(settings: Settings):
    parent = subprocess.Popen([sys.executable, "-m", "infra.cli", "--database-url", settings.database_url, "serve",
                               "--port", str(free_port()), "--workers", "2"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True,
                              env={**_env(), "EMERGENCY_VIEWS_DATABASE_URL": settings.views_database_url})
    # Until the workers exist, long before they can listen; a loaded machine
    # may take seconds to get the parent that far.
    deadline = time.monotonic() + 60
    while len(children(parent.pid)) < 2:
        assert time.monotonic() < deadline and parent.poll() is None, "the workers never started"
        time.sleep(0.01)
    parent.terminate()
    _, errors = parent.communicate(timeout=60)
    assert parent.returncode == 0, errors[-2000:]
