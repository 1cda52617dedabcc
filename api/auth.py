"""Who is calling: bearer token -> principal (role and scope), and 401 vs 403.

401 means "we do not know who you are" (no token, unknown or revoked token);
403 means "we know, and you may not" (wrong role, or outside your scope).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from api.tokens import ROLES, TokenRecord, TokenStore
from emergency import clock
from emergency.batch import Scope
from emergency.errors import AidError, Forbidden

# How long a verified token is trusted without asking the store again:
# a revocation takes effect within this many seconds.
CACHE_SECONDS = 5.0
CACHE_LIMIT = 10_000

# Who may call what. Auditors read history and write nothing; donors see /public only.
EVERYONE = frozenset(ROLES)
FIELD_WRITERS = frozenset({"field", "coordinator", "admin"})
COORDINATORS = frozenset({"coordinator", "admin"})
READERS = frozenset({"field", "coordinator", "auditor", "admin"})
AUDITORS = frozenset({"auditor", "admin"})


class Unauthenticated(AidError):
    status = 401
    code = "unauthenticated"


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: str
    scope: Scope
    expires_at: datetime | None = None

    @classmethod
    def from_record(cls, record: TokenRecord) -> Principal:
        provinces = frozenset(code for code in record.scope if len(code) == 2)
        communes = frozenset(code for code in record.scope if len(code) == 5)
        return cls(record.token_id, record.name, record.role,
                   Scope(provinces=provinces or None, communes=communes or None), record.expires_at)

    @property
    def actor(self) -> str:
        """How events name the caller: the token id, which `emergency token list` maps to a name."""
        return f"token:{self.token_id}"

    def check_role(self, roles: frozenset[str]) -> None:
        if self.role not in roles:
            raise Forbidden(f"the {self.role} role may not do this", field="Authorization", code="forbidden_role")

    def check_national(self, what: str) -> None:
        """For reads that span every area (exports, history): no scoped token."""
        if self.scope != Scope():
            raise Forbidden(f"{what} cover every area: a token scoped to an area may not read them",
                            field="Authorization", code="out_of_scope")

    def check_scope(self, province: str, commune: str | None, field: str) -> None:
        # The area is the record's, not the caller's: saying which would tell where it is.
        if not self.scope.allows(province, commune):
            raise Forbidden("this record is outside your scope", field=field, code="out_of_scope")


class Authenticator:
    def __init__(self, store: TokenStore):
        self.store = store
        self._verified: dict[str, tuple[float, Principal]] = {}

    async def principal(self, request: web.Request) -> Principal:
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("send a bearer token: Authorization: Bearer <token>", field="Authorization")
        secret = secret.strip()
        if not (secret.isascii() and secret.isprintable()):  # no token is (header bytes may be anything)
            raise Unauthenticated("unknown or revoked token", field="Authorization", code="invalid_token")
        cached = self._verified.get(secret)
        if cached is not None and cached[0] > time.monotonic() and not _expired(cached[1]):
            return cached[1]
        record = await asyncio.to_thread(self.store.find, secret)
        if record is None:
            raise Unauthenticated("unknown or revoked token", field="Authorization", code="invalid_token")
        principal = Principal.from_record(record)
        if len(self._verified) >= CACHE_LIMIT:
            self._verified.clear()
        self._verified[secret] = (time.monotonic() + CACHE_SECONDS, principal)
        return principal


def _expired(principal: Principal) -> bool:
    return principal.expires_at is not None and clock.now() >= principal.expires_at
