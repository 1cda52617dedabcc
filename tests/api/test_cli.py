"""`emergency token` and `emergency serve`, run as a deployment would: tokens
made on the command line, the server in its own process, curl-like calls."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, Iterator

import aiohttp
import pytest

from api.tokens import TokenStore
from emergency import clock
from emergency.service import AidService
from infra.cli import main
from infra.settings import Settings
from projections.catalog import PROJECTIONS
from projections.export_damage import DamageProjection
from projections.runner import EmbeddedRunner, ProjectionSet
from projections.store import open_view_store
from tests.support import payloads
from tests.support.factories import COMMUNES, assess, open_incident, register


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def emergency(settings: Settings, capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    """Run the `emergency` command line on the test store."""
    def run(*args: str) -> Ran:
        code = main(["--database-url", settings.database_url, *args])
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EMERGENCY_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "infra.cli", "--database-url", settings.database_url,
                                "--log-format", "json", "serve", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
        assert process.returncode == 0, errors
        assert '"event": "request"' in errors, "access lines are structured"


async def wait_healthy(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(150):
        try:
            async with session.get(f"{url}/healthz") as reply:
                if reply.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the server did not come up")


def test_tokens_are_made_listed_and_revoked_without_keeping_secrets(emergency: Callable[..., Ran]):
    made = emergency("token", "create", "--role", "field", "--scope", "31", "--scope", COMMUNES[0],
                     "--name", "Đội xã A")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("emt_") and "Đội xã A" in made.stderr
    listed = emergency("token", "list")
    [row] = [line.split("\t") for line in listed.stdout.splitlines()[1:]]
    assert row[1:4] == ["field", ",".join(sorted(("31", COMMUNES[0]))), "Đội xã A"] and row[5] == ""
    assert secret not in listed.stdout
    assert emergency("token", "revoke", row[0]).returncode == 0
    assert emergency("token", "list").stdout.splitlines()[1].split("\t")[5] != ""
    assert emergency("token", "revoke", row[0]).returncode == 1
    unscoped = emergency("token", "create", "--role", "field", "--name", "x")
    assert unscoped.returncode == 2 and "--scope" in unscoped.stderr


def test_a_token_may_expire(emergency: Callable[..., Ran], settings: Settings, storm_clock: None):
    made = emergency("token", "create", "--role", "auditor", "--name", "kiểm toán", "--expires", "2h")
    assert made.returncode == 0, made.stderr
    at = emergency("token", "create", "--role", "auditor", "--name", "đến hẹn", "--expires",
                   "2024-09-10T00:00:00+07:00")
    assert at.returncode == 0, at.stderr
    rows = {line.split("\t")[3]: line.split("\t") for line in emergency("token", "list").stdout.splitlines()[1:]}
    assert emergency("token", "list").stdout.splitlines()[0].split("\t")[6] == "expires"
    assert rows["kiểm toán"][6] == (clock.now() + timedelta(hours=2)).isoformat()
    assert rows["đến hẹn"][6] == "2024-09-10T00:00:00+07:00"
    tokens = TokenStore.from_settings(settings)
    assert tokens.find(made.stdout.strip()) is not None
    clock.advance_to(clock.now() + timedelta(hours=3))
    assert tokens.find(made.stdout.strip()) is None and tokens.find(at.stdout.strip()) is not None
    for wrong in ("soon", "2024-09-10T00:00:00", "0h", "2024-09-01T00:00:00+07:00"):
        refused = emergency("token", "create", "--role", "auditor", "--name", "x", "--expires", wrong)
        assert refused.returncode == 2 and "--expires" in refused.stderr, wrong


async def test_serve_answers_tokens_made_on_the_command_line(emergency: Callable[..., Ran], served: str):
    coordinator = emergency("token", "create", "--role", "coordinator", "--name", "Sở LĐTBXH").stdout.strip()
    revoked = emergency("token", "create", "--role", "admin", "--name", "old").stdout.strip()
    old_id = [line.split("\t")[0] for line in emergency("token", "list").stdout.splitlines()
              if "\told\t" in line]
    assert emergency("token", "revoke", *old_id).returncode == 0
    async with aiohttp.ClientSession() as session:
        await wait_healthy(session, served)
        async with session.post(f"{served}/incidents", json=payloads.incident(),
                                headers={"Authorization": f"Bearer {coordinator}"}) as reply:
            assert reply.status == 201, await reply.text()
        async with session.get(f"{served}/events", headers={"Authorization": f"Bearer {revoked}"}) as reply:
            assert reply.status == 401


def _positions_and_damage(settings: Settings) -> tuple[dict[str, int], list[tuple[object, ...]]]:
    store = open_view_store(Settings(database_url=settings.database_url).views_url())
    try:
        positions = {p.name: (store.position(p.name) or (0,))[0] for p in PROJECTIONS}
        with store.read() as cur:
            rows = sorted(cur.execute("SELECT * FROM damage_households").fetchall())
        return positions, rows
    finally:
        store.close()


def test_a_rebuild_of_one_projection_leaves_the_others_where_they_are(
        emergency: Callable[..., Ran], settings: Settings, service: AidService, storm_clock: None):
    incident = open_incident(service)
    assess(service, register(service, incident))
    assert emergency("rebuild").returncode == 0
    before, _ = _positions_and_damage(settings)
    assess(service, register(service, incident))  # after the rebuild: no view has it yet
    ran = emergency("rebuild", "--projection", "damage")
    assert ran.returncode == 0 and "rebuilt damage from" in ran.stdout
    after, rows = _positions_and_damage(settings)
    head = service.last_notification_id()
    assert after == {**before, "damage": head} and before["damage"] < head
    fresh = ProjectionSet(open_view_store("sqlite:///:memory:"), [DamageProjection()])
    EmbeddedRunner(service.app.recorder, fresh).catch_up()
    with fresh.store.read() as cur:
        assert rows == sorted(cur.execute("SELECT * FROM damage_households").fetchall()) and len(rows) == 2
