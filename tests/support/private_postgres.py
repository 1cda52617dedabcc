"""A PostgreSQL server of a test's own, from the machine's binaries (those
`infra/postgres.sh` installs), on a free port: a test may stop it hard and
start it again, which the shared server must never see."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from infra.stores import connect_postgres


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql (run infra/postgres.sh)")
    return found[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        # initdb and the server refuse root: as root they run as the postgres user.
        self.user = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="emergency-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        if self.user:
            shutil.chown(self.dir, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-instructions")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def start(self) -> None:
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.dir / "server.log"),
                  "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off")
        with connect_postgres(self.url) as conn:
            conn.execute("SELECT 1")

    def crash(self) -> None:
        """Stop at once, as a killed server does: no shutdown checkpoint, connections cut."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def owner_exists() -> bool:
    try:
        pwd.getpwnam("postgres")
        return True
    except KeyError:
        return os.geteuid() != 0
