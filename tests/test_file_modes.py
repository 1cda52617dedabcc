"""The stores hold names, amounts and token hashes: their files are the
owner's alone (0600), whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from api.tokens import TokenStore
from infra.settings import Settings
from infra.stores import build_service
from projections.catalog import open_views
from tests.support.factories import open_incident


def test_sqlite_stores_are_created_private(tmp_path: Path, storm_clock: None):
    previous = os.umask(0o022)
    try:
        settings = Settings(database_url=f"sqlite:///{tmp_path}/events.sqlite")
        service = build_service(settings)
        open_incident(service)
        TokenStore.from_settings(settings).create("x", "admin")
        views = open_views(settings)
        views.store.close()
        service.app.close()
    finally:
        os.umask(previous)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert {"events.sqlite", "events-views.sqlite", "events-tokens.sqlite"} <= set(files), files
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in files}
    assert all(mode == 0o600 for mode in modes.values()), {n: oct(m) for n, m in modes.items()}
