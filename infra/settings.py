"""Settings, read once from the environment (`EMERGENCY_*`)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlparse

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from emergency.event_format import DEFAULT_FORMAT, Format

DEFAULT_DATABASE_URL = "sqlite:///var/emergency.sqlite"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    database_url: str = DEFAULT_DATABASE_URL
    # How a store made now writes its events (emergency.event_format); a store keeps the format it was made with.
    event_format: Format = DEFAULT_FORMAT
    # Where projections keep their rows; empty: beside the events (see views_url()).
    views_database_url: str = ""
    policy_overrides: tuple[Path, ...] = ()
    commune_list: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    # API: where bearer tokens are kept (empty: beside the events, see api.tokens)
    # and the largest request bodies accepted, single writes and batches.
    tokens_database_url: str = ""
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch_body_bytes: int = 8 * 1024 * 1024
    # Slow and many clients (api.server): a request's headers, its body, connections at once.
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(30.0, gt=0)
    max_connections: int = Field(500, ge=1)
    # A write's response waits up to this long for the projections to include it (read-your-writes).
    read_your_writes_seconds: float = 2.0
    # Who writes the views: the API process ("embedded", taking over when no
    # other holds the projector lock) or only `emergency project` ("external":
    # the API process follows the views' positions and never writes them).
    projector: str = Field(default="embedded", pattern="^(embedded|external)$")
    kafka_bootstrap: str = ""
    kafka_topic: str = "emergency.events"
    kafka_partitions: int = 6
    kafka_retention_ms: int = 30 * 24 * 3600 * 1000
    # Times before this in a command or query are refused as mistakes (see emergency.clock).
    earliest_time: AwareDatetime = datetime.fromisoformat("2000-01-01T00:00:00+07:00")
    # The public request form (api.rate_limit): per client address, a burst and a refill rate.
    public_requests_burst: int = Field(5, ge=1)
    public_requests_per_hour: float = Field(20.0, gt=0)
    # Behind a reverse proxy: take the client's address from X-Forwarded-For's last entry.
    trust_forwarded_for: bool = False
    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = "info"
    # Possible duplicate households (README, Duplicate households): refuse a
    # payment to either of an unresolved pair unless a coordinator overrides;
    # the key of the citizen ids' keyed hash (empty: citizen ids are refused).
    duplicate_payments: Literal["refuse", "allow"] = "refuse"
    citizen_id_key: SecretStr = SecretStr("")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name in cls.model_fields:
            raw = env.get(f"EMERGENCY_{name.upper()}")
            if raw is not None and raw != "":
                values[name] = tuple(Path(p) for p in raw.split(",")) if name == "policy_overrides" else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    def views_url(self) -> str:
        """SQLite allows one writer per file, so views get a file of their own;
        on PostgreSQL they share the database (in their own schema)."""
        return self.views_database_url or self.beside_events("views")

    def tokens_url(self) -> str:
        """Where the API's bearer tokens are kept (see api.tokens)."""
        return self.tokens_database_url or self.beside_events("tokens")

    def beside_events(self, name: str) -> str:
        """The events' PostgreSQL database, or a SQLite file `<events>-<name>` next to theirs."""
        if self.is_postgres:
            return self.database_url
        path = sqlite_path(self.database_url)
        return f"sqlite:///{path.with_name(f'{path.stem}-{name}{path.suffix}')}"


def sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a sqlite URL: {url!r} (expected sqlite:///path)")
    return Path(url.removeprefix("sqlite:///"))


def postgres_parts(url: str) -> dict[str, str]:
    """host, port, user, password, dbname and schema from a postgresql:// URL."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    return {
        "host": parsed.hostname or "127.0.0.1", "port": str(parsed.port or 5432),
        "user": parsed.username or "", "password": parsed.password or "",
        "dbname": parsed.path.lstrip("/"), "schema": query.get("schema", ["public"])[0],
    }
