"""`emergency token create|list|revoke`: the API's bearer tokens (see `api.tokens`)."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta

from api.tokens import ROLES, TokenStore
from emergency import clock
from infra.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = subparsers.add_parser("token", help="create, list or revoke API tokens")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a token and print it (once: only its hash is kept)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--scope", action="append", default=[], metavar="CODE",
                        help="province (2 digits) or commune (5 digits) code; repeat for more; "
                             "communes narrow the provinces; none: everywhere")
    create.add_argument("--name", required=True, help="who holds it, e.g. \"Đội xã A\"")
    create.add_argument("--expires", metavar="WHEN", help="when it stops working: a time with an offset "
                        "(2025-01-31T17:00:00+07:00) or a span from now (12h, 30d); default: never")
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="list tokens (never their secrets)")
    listing.set_defaults(run=run_list)
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id")
    revoke.set_defaults(run=run_revoke)


SPAN = re.compile(r"^([1-9][0-9]{0,5})([hd])$")


def _expiry(text: str) -> datetime:
    span = SPAN.match(text)
    if span:
        return clock.now() + timedelta(**{"hours" if span[2] == "h" else "days": int(span[1])})
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("give the time an offset, e.g. +07:00")
    if moment <= clock.now():
        raise ValueError("that time has passed")
    return moment


def run_create(args: argparse.Namespace, settings: Settings) -> int:
    if args.role == "field" and not args.scope:
        print("a field token needs at least one --scope", file=sys.stderr)
        return 2
    try:
        expires = _expiry(args.expires) if args.expires else None
    except ValueError as error:
        print(f"--expires {args.expires!r}: {error} (a time with an offset, or 12h, 30d)", file=sys.stderr)
        return 2
    try:
        record, secret = TokenStore.from_settings(settings).create(args.name, args.role, tuple(args.scope), expires)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"token {record.token_id} ({record.role}, scope {', '.join(record.scope) or 'everywhere'}) "
          f"for {record.name}:", file=sys.stderr)
    print(secret)
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    print("id\trole\tscope\tname\tcreated\trevoked\texpires")
    for r in TokenStore.from_settings(settings).list():
        print("\t".join((r.token_id, r.role, ",".join(r.scope) or "*", r.name, r.created_at, r.revoked_at or "",
                         r.expires_at.isoformat() if r.expires_at else "")))
    return 0


def run_revoke(args: argparse.Namespace, settings: Settings) -> int:
    if not TokenStore.from_settings(settings).revoke(args.token_id):
        print(f"no live token {args.token_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.token_id}", file=sys.stderr)
    return 0
