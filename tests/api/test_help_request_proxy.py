"""Behind a reverse proxy configured as trusted, the public form's rate limit
counts per address the proxy forwarded (X-Forwarded-For's last entry)."""

from __future__ import annotations

import pytest

from infra.settings import Settings
from tests.support.api import Api, Storm
from tests.support.factories import COMMUNES

pytestmark = pytest.mark.asyncio


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trust_forwarded_for": True, "public_requests_burst": 2})


async def test_each_forwarded_address_has_its_own_bucket(api: Api, storm: Storm) -> None:
    body = {"commune_code": COMMUNES[0], "village": "Thôn Tây", "phone": "0912345678", "description": "chưa ai đến"}

    async def file(forwarded: str) -> int:
        return (await api.post("/public/requests", None, body, headers={"X-Forwarded-For": forwarded})).status

    # the client may put anything first; the proxy's own entry (the last) is the address counted
    assert [await file(f"{spoof}, 203.0.113.7") for spoof in ("1.1.1.1", "2.2.2.2", "3.3.3.3")] == [201, 201, 429]
    assert await file("203.0.113.8") == 201
