"""Store files only their owner may read: they hold names, amounts and token
hashes. SQLite gives its journal and WAL files the mode of the database file,
so creating that one 0600 (before SQLite does, whatever the umask) is enough."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def private_file(path: Path) -> Path:
    """Create `path` empty and 0600 if it does not exist (its folder too); an
    existing file is left as it is. `:memory:` is no file."""
    if str(path) == ":memory:":
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE))
    except FileExistsError:
        pass
    return path
