"""Fixtures shared by the suite: one store per backend, each test on a fresh one.

`store_url` is parametrised over SQLite (a file in the test's temp dir) and
PostgreSQL (a fresh schema in the server named by EMERGENCY_TEST_POSTGRES_URL,
which `infra/test.sh` starts). Without that variable the PostgreSQL cases are
skipped, unless EMERGENCY_REQUIRE_ALL=1 (CI) makes that an error.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from typing import Iterator

import pytest
from psycopg import sql

from emergency import clock
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service, connect_postgres

POSTGRES_URL = os.environ.get("EMERGENCY_TEST_POSTGRES_URL", "")
REQUIRE_ALL = os.environ.get("EMERGENCY_REQUIRE_ALL") == "1"

# A fixed moment shortly after a typhoon: tests run on a simulated clock.
STORM_START = datetime(2024, 9, 7, 1, 0, tzinfo=timezone.utc)


def _postgres_or_skip() -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    if REQUIRE_ALL:
        pytest.fail("EMERGENCY_TEST_POSTGRES_URL is not set but EMERGENCY_REQUIRE_ALL=1")
    pytest.skip("no PostgreSQL server: set EMERGENCY_TEST_POSTGRES_URL (infra/test.sh does)")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL server, dropped afterwards."""
    base = _postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}schema={schema}"
    with connect_postgres(base) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.sqlite"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(store_url: str, tmp_path) -> Settings:
    views = f"sqlite:///{tmp_path}/views.sqlite" if store_url.startswith("sqlite") else ""
    return Settings(database_url=store_url, views_database_url=views)


@pytest.fixture
def service(settings: Settings) -> Iterator[AidService]:
    svc = build_service(settings)
    yield svc
    svc.app.close()


@pytest.fixture
def storm_clock() -> Iterator[None]:
    """Freeze the clock two days into the storm; tests may advance it."""
    with clock.frozen_at(STORM_START.replace(day=9)):
        yield
