"""A full disk under the event store: writes answer 507 `insufficient_storage`
naming the disk, /healthz reports the failing write path, nothing is half
recorded, and writing resumes once there is room.

The store sits on a small tmpfs mounted for the test (root only: skipped
where mounting is not allowed)."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path
from typing import AsyncIterator, Iterator

import aiohttp
import pytest

from api.tokens import TokenStore
from infra.settings import Settings
from tests.support import payloads
from tests.support.api import Api, running

pytestmark = pytest.mark.usefixtures("storm_clock")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


@pytest.fixture
async def api_on(small_disk: Path, tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(database_url=f"sqlite:///{small_disk}/events.sqlite",
                        views_database_url=f"sqlite:///{tmp_path}/views.sqlite",
                        tokens_database_url=f"sqlite:///{tmp_path}/tokens.sqlite")
    async with running(settings) as url, aiohttp.ClientSession() as session:
        yield Api(session, url, TokenStore.from_settings(settings))


async def test_a_full_disk_is_507_naming_it_and_healthz_says_so(api_on: Api, small_disk: Path):
    api = api_on
    coordinator = api.token("coordinator")
    incident = (await api.created("/incidents", coordinator, payloads.incident()))["incident_id"]
    head = await api.head()

    filler = fill(small_disk)
    refused = await api.post("/households", coordinator, payloads.household(incident, head_name="Lê Thị Hoa"),
                             key="on-a-full-disk")
    assert (refused.status, refused.error) == (507, ("insufficient_storage", "disk")), refused.body
    assert str(small_disk) in refused.body["message"]
    health = await api.get("/healthz")
    assert (health.status, health.body["status"]) == (503, "failing"), health.body
    assert health.body["writes"]["failing"] and "insufficient_storage" in health.body["writes"]["last_failure"]

    filler.unlink()
    retried = await api.post("/households", coordinator, payloads.household(incident, head_name="Lê Thị Hoa"),
                             key="on-a-full-disk")
    assert retried.status == 201, retried.body
    health = await api.get("/healthz")
    assert health.status == 200 and not health.body["writes"]["failing"]
    registered = [e for e in await api.events() if e["type"] == "Registered"]
    assert len(registered) == 1 and registered[0]["notification_id"] > head
