"""Bearer tokens: who may call the API, in which role and scope.

A token is shown once, when it is made; only its SHA-256 hash is stored, so a
copy of the database gives no usable token. Revoked tokens stay listed (with
their revocation time) so an auditor can still name the actor of an old event.
A token may expire: past `expires_at` it is refused like a revoked one.

Tokens live beside the events: a `<events>-tokens.sqlite` file next to a
SQLite event store, or an `api_tokens` table in the events' PostgreSQL schema.
`EMERGENCY_TOKENS_DATABASE_URL` puts them elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from psycopg import sql

from emergency import clock
from emergency.areas import COMMUNE_CODE, PROVINCE_CODE
from infra.private_files import private_file
from infra.settings import Settings, postgres_parts, sqlite_path
from infra.stores import connect_postgres, ensure_schema

ROLES = ("field", "coordinator", "auditor", "donor", "admin")
TOKEN_PREFIX = "emt_"

_SCHEMA = """CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    scope TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    expires_at TEXT
)"""
# Token tables made before tokens could expire.
_ADD_EXPIRY = "ALTER TABLE api_tokens ADD COLUMN expires_at TEXT"
_COLUMNS = "token_id, name, role, scope, created_at, revoked_at, expires_at"


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    name: str
    role: str
    # Province (2-digit) and commune (5-digit) codes; empty means everywhere.
    scope: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None
    expires_at: datetime | None = None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> TokenRecord:
        token_id, name, role, scope, created_at, revoked_at, expires_at = row
        return cls(token_id, name, role, tuple(json.loads(scope)), created_at, revoked_at,
                   datetime.fromisoformat(expires_at) if expires_at else None)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """The token table, on SQLite or PostgreSQL (one connection per call:
    lookups are rare, since the API caches what it has verified)."""

    def __init__(self, url: str):
        self.url = url
        self.is_postgres = not url.startswith("sqlite:///")
        if self.is_postgres:
            self._schema = postgres_parts(url)["schema"]
            ensure_schema(url, self._schema)
        else:
            private_file(sqlite_path(url))
        with self._connect() as conn:
            conn.execute(_SCHEMA)
            columns = conn.execute("SELECT * FROM api_tokens LIMIT 0").description
            if "expires_at" not in {column[0] for column in columns}:
                conn.execute(_ADD_EXPIRY)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenStore:
        return cls(settings.tokens_url())

    def _connect(self) -> Any:
        """A connection used as a context manager that commits on success."""
        if self.is_postgres:
            conn = connect_postgres(self.url)
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
            return conn
        return _SqliteConnection(str(sqlite_path(self.url)))

    def _query(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.is_postgres:
            query = query.replace("?", "%s")
        with self._connect() as conn:
            return list(conn.execute(query, params).fetchall())

    def create(self, name: str, role: str, scope: tuple[str, ...] = (),
               expires_at: datetime | None = None) -> tuple[TokenRecord, str]:
        """Make a token; return its record and the secret (shown once, never stored)."""
        if expires_at is not None and (expires_at.tzinfo is None or expires_at <= clock.now()):
            raise ValueError("a token's expiry is a time with an offset, in the future")
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        for code in scope:
            if not (PROVINCE_CODE.match(code) or COMMUNE_CODE.match(code)):
                raise ValueError(f"scope {code!r} is neither a 2-digit province nor a 5-digit commune code")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(uuid4().hex[:12], name, role, tuple(sorted(set(scope))), clock.now().isoformat(),
                             expires_at=expires_at)
        self._query(f"INSERT INTO api_tokens ({_COLUMNS}, token_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING token_id",
                    (record.token_id, record.name, record.role, json.dumps(record.scope), record.created_at, None,
                     expires_at.isoformat() if expires_at else None, hash_token(secret)))
        return record, secret

    def find(self, secret: str) -> TokenRecord | None:
        """The live (not revoked, not expired) token with this secret, if any."""
        rows = self._query(f"SELECT {_COLUMNS} FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL",
                           (hash_token(secret),))
        found = TokenRecord.from_row(rows[0]) if rows else None
        return None if found is None or found.expired(clock.now()) else found

    def list(self) -> list[TokenRecord]:
        return [TokenRecord.from_row(r) for r in self._query(f"SELECT {_COLUMNS} FROM api_tokens ORDER BY created_at")]

    def revoke(self, token_id: str, at: datetime | None = None) -> bool:
        """Revoke a live token; False if there is no such live token."""
        rows = self._query("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL "
                           "RETURNING token_id", ((at or clock.now()).isoformat(), token_id))
        return bool(rows)

    def ping(self) -> None:
        self._query("SELECT 1")


class _SqliteConnection:
    """sqlite3's connection context manager commits but does not close."""

    def __init__(self, path: str):
        self._conn = sqlite3.connect(path, timeout=10)

    def __enter__(self) -> sqlite3.Connection:
        return self._conn.__enter__()

    def __exit__(self, *exc: Any) -> None:
        with closing(self._conn):
            self._conn.__exit__(*exc)

