"""`emergency verify | checkpoint | replay | diff | what-if | export`: the auditor's commands."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterator
from uuid import UUID

import structlog
from eventsourcing.domain import DomainEventProtocol
from tqdm import tqdm

from emergency import clock
from emergency.application import AidApplication
from emergency.errors import InvalidInput
from emergency.service import as_uuid
from emergency.whatif import Report, Rules, fold_incident, what_if
from infra.audit_chain import Checkpoint, WalkResult, read_checkpoints, take_checkpoints, verify
from infra.audit_recorders import chained
from infra.cli.views import catch_up, print_coverage
from infra.settings import Settings, postgres_parts, sqlite_path
from infra.stores import build_service, open_application
from projections.asof import Cutoff
from projections.audit_replay import Change, diff, replay_into
from projections.catalog import open_views
from projections.coverage import GROUPINGS
from projections.export_events import event_lines
from projections.exports import VIEW_EXPORTS, csv_lines, view_export
from projections.store import open_view_store

log = structlog.get_logger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = subparsers.add_parser("verify", help="recompute the event log's hash chain; exit 1 at the first "
                                  "event whose content, order or hash does not match")
    check.add_argument("--checkpoints", type=Path, help="a published checkpoint file (JSON lines) the log "
                       "must still match")
    check.set_defaults(run=run_verify)

    checkpoint = subparsers.add_parser("checkpoint", help="published log positions and hashes")
    actions = checkpoint.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="verify the log, then write checkpoints as JSON lines "
                                "{notification_id, hash, at}: every N events and the head")
    export.add_argument("--every", type=int, default=10_000, help="events between checkpoints (default 10000)")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=run_checkpoint_export)

    whatif = subparsers.add_parser("what-if", help="recompute a past incident's entitlements and coverage under "
                                   "another rule version or base level; records nothing")
    whatif.add_argument("--incident", required=True, help="incident id")
    whatif.add_argument("--rule-version", help="rule version id, e.g. ND20-2021 or ND20-2021+HP-2024")
    whatif.add_argument("--base-level-on", type=date.fromisoformat, help="use the base level in effect on this "
                        "day, e.g. 2024-07-01")
    whatif.add_argument("--at", type=aware_time, help="moment to measure coverage at (default: now)")
    whatif.add_argument("--by", choices=("support_type", "province_code", "commune_code"), default="support_type")
    whatif.add_argument("--households", type=Path, help="write every household's line as CSV to this file")
    whatif.add_argument("--show", type=int, default=20, help="changed households to print (default 20)")
    whatif.set_defaults(run=run_what_if)

    replay = subparsers.add_parser("replay", help="rebuild every projection as of a past point into a separate "
                                   "view store")
    replay.add_argument("--until", required=True, help="a notification id, or an ISO time with offset (the log "
                        "up to the first event recorded after it)")
    replay.add_argument("--into", required=True, help="view store URL for the replay: sqlite:///path or "
                        "postgresql://…?schema=s (never the live views)")
    replay.add_argument("--incident", help="print this incident's coverage as of that point")
    replay.set_defaults(run=run_replay)

    compare = subparsers.add_parser("diff", help="what changed for one incident between two points in time")
    compare.add_argument("--incident", required=True, help="incident id")
    compare.add_argument("--from", dest="before", required=True, help="notification id or ISO time with offset")
    compare.add_argument("--to", dest="after", required=True, help="notification id or ISO time with offset")
    compare.add_argument("--by", choices=sorted(GROUPINGS), default="province", help="coverage grouping")
    compare.add_argument("--show", type=int, default=50, help="case changes to print (default 50)")
    compare.set_defaults(run=run_diff)

    export = subparsers.add_parser("export", help="standard exports, streamed (progress on stderr)")
    export.add_argument("kind", choices=(*VIEW_EXPORTS, "events"),
                        help="; ".join(f"{k}: {v}" for k, v in VIEW_EXPORTS.items()) + "; events: the whole "
                        "event log as JSON Lines with each event's chain hash")
    export.add_argument("--incident", help="incident id (hxl-communes, sendai)")
    export.add_argument("--campaign", help="campaign id (iati)")
    export.add_argument("--at", type=aware_time, help="moment the figures stand for (default: now)")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=run_export)


@contextmanager
def _application(settings: Settings) -> Iterator[AidApplication]:
    app = open_application(settings)
    try:
        yield app
    finally:
        app.close()


@contextmanager
def log_progress(app: AidApplication, desc: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr over log positions (ids may have gaps)."""
    with tqdm(total=app.recorder.max_notification_id() or 0, unit=" events", desc=desc, file=sys.stderr,
              unit_scale=True) as bar:
        def advance(position: int) -> None:
            bar.update(position - bar.n)
        yield advance


def _read_checkpoint_file(path: Path) -> list[Checkpoint]:
    try:
        return read_checkpoints(path.read_text("utf-8").splitlines())
    except (OSError, ValueError) as error:
        raise InvalidInput(str(error), field="--checkpoints") from None


def aware_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("needs a timezone offset, e.g. 2024-09-12T17:00:00+07:00")
    return moment


def domain_events(app: AidApplication, desc: str) -> Iterator[DomainEventProtocol[UUID]]:
    """Every recorded event, decoded into the domain's own classes, with a progress bar."""
    with log_progress(app, desc) as progress:
        after = 0
        while page := app.recorder.select_notifications(after, 5000, inclusive_of_start=False):
            for notification in page:
                yield app.mapper.to_domain_event(notification)
            after = page[-1].id
            progress(after)


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    checkpoints = _read_checkpoint_file(args.checkpoints) if args.checkpoints else []
    with _application(settings) as app, log_progress(app, "verifying") as progress:
        result = verify(chained(app.recorder), checkpoints, progress=progress)
    _log_walk("verify", result, checkpoints=len(checkpoints))
    if result.mismatch is not None:
        print(f"TAMPERED at event {result.mismatch.notification_id} ({result.mismatch.problem}): "
              f"{result.mismatch.detail}", file=sys.stderr)
        return 1
    head = f"head {result.head[0]} {result.head[1]}" if result.head else "the log is empty"
    against = f", matching {len(checkpoints)} checkpoints" if checkpoints else ""
    print(f"verified {result.checked} events{against}; {head}")
    return 0


def _log_walk(action: str, result: WalkResult, **extra: object) -> None:
    """One log line per chain walk, for whoever watches the logs of a scheduled run."""
    if result.mismatch is None:
        log.info("event_log_verified", action=action, events=result.checked,
                 head=result.head[0] if result.head else None, **extra)
    else:
        log.error("event_log_tampered", action=action, notification_id=result.mismatch.notification_id,
                  problem=result.mismatch.problem, checked=result.checked, **extra)


def run_checkpoint_export(args: argparse.Namespace, settings: Settings) -> int:
    if args.every < 1:
        raise InvalidInput("must be at least 1", field="--every")
    with _application(settings) as app, log_progress(app, "checkpointing") as progress:
        checkpoints, result = take_checkpoints(chained(app.recorder), args.every, clock.now(), progress)
    _log_walk("checkpoint_export", result, checkpoints=len(checkpoints))
    if result.mismatch is not None:
        print(f"not exported: the log fails verification at event {result.mismatch.notification_id}: "
              f"{result.mismatch.detail}", file=sys.stderr)
        return 1
    lines = "".join(c.to_json() + "\n" for c in checkpoints)
    if args.output:
        args.output.write_text(lines, "utf-8")
    else:
        sys.stdout.write(lines)
    return 0


def run_what_if(args: argparse.Namespace, settings: Settings) -> int:
    rules = Rules(args.rule_version, args.base_level_on)
    if rules == Rules():
        raise InvalidInput("name the rules to compare with: --rule-version and/or --base-level-on",
                           field="--rule-version")
    service = build_service(settings)
    try:
        incident, households = fold_incident(domain_events(service.app, "reading the log"),
                                             as_uuid(args.incident, "--incident"))
        report = what_if(incident, households, service.policy, rules, args.at or clock.now())
    finally:
        service.app.close()
    print_what_if(report, args.by, args.show)
    if args.households:
        rows = [line.as_row(report.at) for line in report.lines]
        with args.households.open("w", newline="", encoding="utf-8") as out:
            out.writelines(csv_lines(list(rows[0]) if rows else [], rows))
    return 0


def print_what_if(report: Report, by: str, show: int) -> None:
    rules = ", ".join(f"{k} {v}" for k, v in (("rule version", report.rules.version_id),
                                              ("base level of", report.rules.base_level_on)) if v)
    print(f"What if incident {report.incident_id} had been handled under {rules} "
          f"(coverage as of {report.at.isoformat()}); nothing is recorded.")
    print(" | ".join((by, "households then → what-if", "VND then → what-if", "difference", "still owed VND",
                      "on time", "late", "overdue", "timely %")))
    for key, t in report.totals(by).items():
        print(" | ".join(str(v) for v in (
            key, f"{t['households_recorded']} → {t['households_what_if']}",
            f"{t['recorded_vnd']:,} → {t['what_if_vnd']:,}", f"{t['difference_vnd']:+,}",
            f"{t['still_owed_vnd']:,}", t["on_time"], t["late"], t["overdue"], t["timely_pct"])))
    changed = [line for line in report.lines if line.change != "same"]
    print(f"\n{len({line.household_id for line in changed})} households would be entitled differently. "
          + ("First:" if changed else ""))
    for line in changed[:show]:
        row = line.as_row(report.at)
        print(f"  household {line.household_id} commune {line.commune_code}: {line.support_type} {line.change}: "
              f"{_owed_text(row, 'recorded')} → {_owed_text(row, 'what_if')}")


def _owed_text(row: dict[str, object], side: str) -> str:
    if row[f"{side}_amount_vnd"] is not None:
        return f"{row[f'{side}_amount_vnd']:,} VND"
    if row[f"{side}_quantity"] is not None:
        return f"{row[f'{side}_quantity']} {row['unit']}"
    return "nothing" if row[f"{side}_rule_version"] is None else "amount by decision"


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    incident = str(as_uuid(args.incident, "--incident")) if args.incident else None
    campaign = str(as_uuid(args.campaign, "--campaign")) if args.campaign else None
    service = build_service(settings)
    with ExitStack() as stack:
        stack.callback(service.app.close)
        if args.kind == "events":
            lines = event_lines(chained(service.app.recorder))
        else:
            views = open_views(settings)
            stack.callback(views.store.close)
            catch_up(service, views, "updating projections")
            lines = view_export(args.kind, views.store, args.at or clock.now(), incident, campaign)
        out = stack.enter_context(args.output.open("w", encoding="utf-8", newline="")) if args.output \
            else sys.stdout
        with tqdm(unit=" lines", desc=f"exporting {args.kind}", file=sys.stderr) as bar:
            for line in lines:
                out.write(line)
                bar.update()
    return 0


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    if any(_same_store(args.into, live) for live in (settings.database_url, settings.views_url())):
        raise InvalidInput("a replay goes into a store of its own, not the events' or the live views'",
                           field="--into")
    cutoff = Cutoff.parse(args.until, "--until")
    incident = str(as_uuid(args.incident, "--incident")) if args.incident else None
    with _application(settings) as app, tqdm(unit=" events", desc="replaying", file=sys.stderr) as bar:
        point = replay_into(app.recorder, cutoff, args.into, bar.update)
        replayed = bar.n
    print(f"replayed {replayed} events, up to notification id {point.position} (as of {point.at.isoformat()}), "
          f"into {args.into}")
    if incident is not None:
        store = open_view_store(args.into)
        try:
            print_coverage(store, incident, point.at)
        finally:
            store.close()
    return 0


def _same_store(one: str, other: str) -> bool:
    if one.startswith("sqlite:///") or other.startswith("sqlite:///"):
        return one.startswith("sqlite:///") and other.startswith("sqlite:///") \
            and sqlite_path(one).resolve() == sqlite_path(other).resolve()
    where = ("host", "port", "dbname", "schema")
    return [postgres_parts(one)[k] for k in where] == [postgres_parts(other)[k] for k in where]


def run_diff(args: argparse.Namespace, settings: Settings) -> int:
    incident = str(as_uuid(args.incident, "--incident"))
    before, after = Cutoff.parse(args.before, "--from"), Cutoff.parse(args.after, "--to")
    with _application(settings) as app:
        found = diff(app.recorder, incident, before, after, args.by)
    print(f"Incident {incident}: from notification id {found.before.position} ({found.before.at.isoformat()}) "
          f"to {found.after.position} ({found.after.at.isoformat()})")
    print(f"\nCoverage by {args.by}: {len({c.key for c in found.coverage})} rows changed")
    _print_changes(found.coverage, len(found.coverage))
    print(f"\nCases: {len({c.key for c in found.cases})} changed, in {found.households_changed()} households")
    _print_changes(found.cases, args.show)
    return 0


def _print_changes(changes: list[Change], show: int) -> None:
    by_key: dict[tuple[str, ...], list[Change]] = {}
    for change in changes:
        by_key.setdefault(change.key, []).append(change)
    for key, found in list(by_key.items())[:show]:
        print(f"  {' '.join(key)}: " + "; ".join(f"{c.field} {_shown(c.before)} → {_shown(c.after)}" for c in found))


def _shown(value: object) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)
