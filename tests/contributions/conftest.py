"""Every scenario here ends with the money conserved: after each test, the
funds projection is rebuilt from the test's event log into a fresh store and
checked (the large campaign checks itself, with its own rows)."""

from __future__ import annotations

from typing import Iterator

import pytest

from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from tests.support.fund_builders import conservation, views_of


@pytest.fixture
def service(settings: Settings, request: pytest.FixtureRequest) -> Iterator[AidService]:
    svc = build_service(settings)
    yield svc
    try:
        if request.node.get_closest_marker("slow") is None:
            result = conservation(svc, views_of(svc, "sqlite:///:memory:"))
            assert result.ok, result.violations
    finally:
        svc.app.close()
