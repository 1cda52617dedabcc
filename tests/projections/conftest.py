"""Stores that live for a whole test module, so one large scenario per store
serves several tests (a scenario of 10,000 households takes a while)."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest
from psycopg import sql

from infra.settings import Settings
from infra.stores import connect_postgres
from tests.conftest import _postgres_or_skip


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("store")
        yield Settings(database_url=f"sqlite:///{folder}/events.sqlite",
                       views_database_url=f"sqlite:///{folder}/views.sqlite")
        return
    base = _postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield Settings(database_url=f"{base}{'&' if '?' in base else '?'}schema={schema}")
    with connect_postgres(base) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
