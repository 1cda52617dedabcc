"""One store per backend, each test on a fresh one.

`store_url` is parametrised over SQLite (a file in the test's temp dir) and
PostgreSQL (a fresh schema in the server named by EMERGENCY_TEST_POSTGRES_URL,
which `infra/test.sh` starts). Without that variable the PostgreSQL cases are
skipped, unless EMERGENCY_REQUIRE_ALL=1 (CI) makes that an error.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
from psycopg import sql

from emergency import clock
from emergency.event_format import DEFAULT_FORMAT
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service, connect_postgres
from tests.support.factories import STORM_START

POSTGRES_URL = os.environ.get("EMERGENCY_TEST_POSTGRES_URL", "")
REQUIRE_ALL = os.environ.get("EMERGENCY_REQUIRE_ALL") == "1"


def missing(reason: str, remedy: str) -> None:
    """Skip the test for want of a server or tool, or fail it where all are required (CI)."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} but EMERGENCY_REQUIRE_ALL=1 ({remedy})")
    pytest.skip(f"{reason}: {remedy}")


def postgres_or_skip() -> str:
    if not POSTGRES_URL:
        missing("EMERGENCY_TEST_POSTGRES_URL is not set", "infra/test.sh sets it")
    return POSTGRES_URL


@contextmanager
def fresh_schemas(prefix: str = "t") -> Iterator[Callable[[], str]]:
    """Makes URLs of fresh schemas in the test PostgreSQL server, every one dropped afterwards."""
    base = postgres_or_skip()
    made: list[str] = []

    def make() -> str:
        made.append(f"{prefix}_{uuid.uuid4().hex[:12]}")
        return f"{base}{'&' if '?' in base else '?'}schema={made[-1]}"

    try:
        yield make
    finally:
        with connect_postgres(base) as conn:
            for schema in made:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def fresh_store(kind: str, folder: Path) -> Iterator[Settings]:
    """An empty store of `kind` (`sqlite`: files in `folder`; `postgres`: a new schema)."""
    if kind == "sqlite":
        yield Settings(database_url=f"sqlite:///{folder}/events.sqlite",
                       views_database_url=f"sqlite:///{folder}/views.sqlite")
        return
    with fresh_schemas() as schema_url:
        yield Settings(database_url=schema_url())


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL server, dropped afterwards."""
    with fresh_schemas() as schema_url:
        yield schema_url()


@pytest.fixture
def new_schema_url() -> Iterator[Callable[[], str]]:
    """Makes URLs of fresh PostgreSQL schemas, all dropped afterwards."""
    with fresh_schemas("k") as make:
        yield make


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/events.sqlite"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def event_format() -> str:
    """The event format of the `settings` store: the default; a module or a
    parametrised test that needs another says so by this name."""
    return DEFAULT_FORMAT


@pytest.fixture
def settings(store_url: str, tmp_path: Path, event_format: str) -> Settings:
    views = f"sqlite:///{tmp_path}/views.sqlite" if store_url.startswith("sqlite") else ""
    return Settings(database_url=store_url, views_database_url=views, event_format=event_format)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A store that lives for a whole test module, so one large scenario per
    store serves several tests (a scenario of 10,000 households takes a while)."""
    with fresh_store(request.param, tmp_path_factory.mktemp("store")) as found:
        yield found


@pytest.fixture
def new_views_url(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[], str]:
    """Makes URLs of fresh view stores on the backend of `store_url`."""
    if store_url.startswith("sqlite"):
        return lambda: f"sqlite:///{tmp_path}/views-{uuid.uuid4().hex[:8]}.sqlite"
    make: Callable[[], str] = request.getfixturevalue("new_schema_url")
    return make


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
