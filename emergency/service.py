"""The application service: commands and queries that the API, CLI and tests share.

Commands run in batches: each command of a batch is checked and applied to
aggregates held in memory, then the events of the whole batch are saved in one
transaction (group commit). Each command still gets its own result or error.
A conflicting concurrent write (optimistic concurrency) reloads and retries.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence
from uuid import UUID, uuid4

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from emergency import commands as c
from emergency.application import AidApplication
from emergency.areas import AreaRegistry
from emergency.domain import HouseholdCase, IdempotencyRecord, Incident
from emergency.duplicates import DuplicateRules, Duplicates
from emergency.envelope import Envelope, from_notification, from_stored_event, plain
from emergency.errors import AidError, Conflict, Forbidden, InvalidInput, NotFound
from emergency.funding import Funding
from emergency.funding_rules import load_funding_policy
from emergency.policy import Policy

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class Scope:
    """Where a caller may write: None means everywhere."""

    provinces: frozenset[str] | None = None
    communes: frozenset[str] | None = None

    def allows(self, province: str, commune: str | None = None) -> bool:
        if self.provinces is not None and province not in self.provinces:
            return False
        return self.communes is None or commune in self.communes


@dataclass(frozen=True)
class Submission:
    command: c.Command
    meta: c.Meta = c.Meta()
    idempotency_key: str | None = None
    scope: Scope = Scope()
    # Two callers may use the same key: keys are namespaced by caller.
    key_scope: str = ""


@dataclass
class Outcome:
    command: str
    result: dict[str, Any]
    replayed: bool = False
    notification_ids: list[int] = field(default_factory=list)

    @property
    def last_notification_id(self) -> int | None:
        return self.notification_ids[-1] if self.notification_ids else None


class _Tainted(Exception):
    """A command failed after changing an aggregate: the batch must not be saved."""


class _Batch:
    """Aggregates loaded or created by the commands of one batch, and which
    of them each command changed (to hand each caller its own log positions)."""

    def __init__(self, app: AidApplication, careful: bool | None = None):
        self.app = app
        # May a command trust an id derived from its content (a bank
        # reference) to be new without reading the store, leaving a duplicate
        # to the store's unique (id, version)? None: not known yet (the first
        # such id is read, and decides: False if new, True if recorded, so a
        # re-import turns careful at once); the retry after a clash: True.
        self.careful = careful
        self.aggregates: dict[UUID, Aggregate] = {}
        # read ahead for the whole batch in one query (None: nothing recorded)
        self.preloaded: dict[UUID, Aggregate | None] = {}
        # per command: (aggregate, first, last version) of the events it added
        self.touched: list[list[tuple[UUID, int, int]]] = []
        # pending-event counts when the current command first saw each aggregate
        self._counts: dict[UUID, int] = {}

    def begin_command(self) -> None:
        self._counts = {}

    def changed(self) -> list[tuple[UUID, int, int]]:
        found = []
        for a, n in self._counts.items():
            pending = self.aggregates[a].pending_events
            if len(pending) != n:
                found.append((a, pending[n].originator_version, pending[-1].originator_version))
        return found

    def preload(self, ids: Iterable[UUID]) -> None:
        """Read the aggregates the batch's commands name, in one query."""
        self.preloaded = self.app.get_many(ids)

    def get(self, cls: type[Aggregate], aggregate_id: UUID, field: str) -> Any:
        found = self.aggregates.get(aggregate_id)
        if found is None:
            if aggregate_id in self.preloaded:
                found = self.preloaded[aggregate_id]
            else:
                try:
                    found = self.app.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    pass
            if found is None:
                raise NotFound(f"no {cls.__name__} with id {aggregate_id}", field=field)
            self.aggregates[aggregate_id] = found
        self._counts.setdefault(aggregate_id, len(found.pending_events))
        if not isinstance(found, cls):
            raise NotFound(f"{aggregate_id} is not a {cls.__name__}", field=field)
        return found

    def find(self, aggregate_id: UUID) -> Aggregate | None:
        try:
            return self.get(Aggregate, aggregate_id, "id")
        except NotFound:
            return None

    def create(self, aggregate: Aggregate, field: str) -> None:
        if self.find(aggregate.id) is not None:
            raise Conflict(f"{aggregate.id} is already recorded", field=field, code="already_exists")
        self.add(aggregate)

    def add(self, aggregate: Aggregate) -> None:
        self.aggregates[aggregate.id] = aggregate
        self._counts[aggregate.id] = 0


def as_uuid(value: UUID | str, field: str) -> UUID:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        raise InvalidInput(f"{value!r} is not a UUID", field=field, code="invalid_uuid") from None


def _named_ids(submissions: Sequence[Submission]) -> Iterator[UUID]:
    """The records a batch will surely read: each keyed command's idempotency
    record, and the household a household command names."""
    for s in submissions:
        if s.idempotency_key is not None:
            yield IdempotencyRecord.id_for(s.key_scope, s.idempotency_key)
        household_id = getattr(s.command, "household_id", None)
        if isinstance(household_id, UUID):
            yield household_id


def request_hash(command: c.Command) -> str:
    body = json.dumps({"command": command.name, "body": command.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


class AidService:
    def __init__(self, app: AidApplication, policy: Policy, areas: AreaRegistry,
                 duplicates: DuplicateRules = DuplicateRules()):
        self.app = app
        self.policy = policy
        self.areas = areas
        # Called with the last notification id after each save, e.g. to wake
        # the embedded projection runner without waiting for its next poll.
        self.on_saved: list[Callable[[int], None]] = []
        self.funding = Funding(app, load_funding_policy(), areas)
        self.duplicates = Duplicates(policy, duplicates)
        self._handlers: dict[type[c.Command], Callable[[_Batch, Any, c.Meta, Scope], dict[str, Any]]] = {
            c.OpenIncident: self._open_incident,
            c.ExtendIncidentAreas: self._extend_incident_areas,
            c.CloseIncident: self._close_incident,
            c.RegisterHousehold: self._register_household,
            c.CorrectHousehold: self._correct_household,
            c.AssessDamage: self._assess_damage,
            c.RecordDecision: self._record_decision,
            c.RecordDisbursement: self._record_disbursement,
            c.ConfirmReceipt: self._confirm_receipt,
            c.CorrectDisbursement: self._correct_disbursement,
            **self.funding.handlers(),
            **self.duplicates.handlers(),
        }

    # ----- running commands --------------------------------------------------

    def execute(self, command: c.Command, meta: c.Meta = c.Meta(), *, idempotency_key: str | None = None,
                scope: Scope = Scope(), key_scope: str = "") -> Outcome:
        """Run one command; raise its AidError if refused."""
        outcome = self.execute_batch([Submission(command, meta, idempotency_key, scope, key_scope)])[0]
        if isinstance(outcome, AidError):
            raise outcome
        return outcome

    def execute_batch(self, submissions: Sequence[Submission]) -> list[Outcome | AidError]:
        """Run commands together and save them in one transaction.

        Refused commands record nothing; the others are saved together. If a
        command failed halfway (a bug, not a refusal), each command is re-run
        in a batch of its own so the others are not lost.
        """
        try:
            return self._run_with_retries(submissions)
        except _Tainted:
            log.warning("batch_tainted_rerun_singly", size=len(submissions))
            return [self._run_with_retries([s])[0] for s in submissions]

    def _run_with_retries(self, submissions: Sequence[Submission]) -> list[Outcome | AidError]:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            batch = _Batch(self.app, careful=True if attempt > 1 else None)
            batch.preload(_named_ids(submissions))
            outcomes = [self._run_one(batch, s) for s in submissions]
            try:
                recordings = self.app.save(*batch.aggregates.values())
            except IntegrityError:
                log.info("concurrent_write_retry", attempt=attempt, size=len(submissions))
                # Jittered backoff, so contending writers stop colliding in step.
                time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 8)))
                continue
            self._attach_notification_ids(batch, outcomes, recordings)
            if recordings:
                for callback in self.on_saved:
                    callback(recordings[-1].notification.id)
            return outcomes
        error = Conflict("the records changed concurrently too many times; retry", code="concurrent_update")
        return [error] * len(submissions)

    @staticmethod
    def _attach_notification_ids(batch: _Batch, outcomes: list[Outcome | AidError], recordings: list) -> None:
        # Many commands of a batch may append to one aggregate (a fund): each
        # gets the positions of its own events only.
        position = {(r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
                    for r in recordings}
        for outcome, touched in zip(outcomes, batch.touched):
            if isinstance(outcome, Outcome):
                outcome.notification_ids = sorted(position[(a, v)] for a, first, last in touched
                                                  for v in range(first, last + 1))

    def _run_one(self, batch: _Batch, submission: Submission) -> Outcome | AidError:
        batch.begin_command()
        try:
            outcome = self._apply(batch, submission)
        except AidError as error:
            if batch.changed():
                raise _Tainted from error
            batch.touched.append([])
            return error
        except Exception as error:
            log.exception("command_failed", command=submission.command.name)
            if batch.changed():
                raise _Tainted from error
            batch.touched.append([])
            return InvalidInput(f"the command could not be applied: {error}", code="unprocessable")
        batch.touched.append(batch.changed())
        return outcome

    def _apply(self, batch: _Batch, submission: Submission) -> Outcome:
        command = submission.command
        record_id = None
        if submission.idempotency_key is not None:
            record_id = IdempotencyRecord.id_for(submission.key_scope, submission.idempotency_key)
            previous = batch.find(record_id)
            if previous is not None:
                return self._replay(previous, command)
        handler = self._handlers[type(command)]
        result = plain(handler(batch, command, submission.meta, submission.scope))
        if record_id is not None:
            batch.add(IdempotencyRecord(
                id=record_id, scope=submission.key_scope, key=submission.idempotency_key,
                request_hash=request_hash(command), command=command.name, result=result))
        return Outcome(command.name, result)

    @staticmethod
    def _replay(record: Aggregate, command: c.Command) -> Outcome:
        assert isinstance(record, IdempotencyRecord)
        if record.request_hash != request_hash(command):
            raise Conflict("this Idempotency-Key was already used with a different request",
                           field="Idempotency-Key", code="idempotency_key_reused")
        return Outcome(record.command, record.result, replayed=True)

    # ----- checks shared by handlers ---------------------------------------

    def _check_areas(self, areas: Iterable[c.Area]) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for i, area in enumerate(areas):
            path = f"areas.{i}"
            self.areas.check_province(area.province_code, f"{path}.province_code")
            for j, commune in enumerate(area.commune_codes):
                self.areas.check_commune(commune, area.province_code, f"{path}.commune_codes.{j}")
            result.setdefault(area.province_code, [])
            result[area.province_code] = sorted(set(result[area.province_code]) | set(area.commune_codes))
        return result

    @staticmethod
    def _check_scope(scope: Scope, province: str, commune: str | None, field: str, named: bool = True) -> None:
        """`named`: the caller gave the area, so the refusal may say it; a
        recorded household's area is not told to a caller outside it."""
        if not scope.allows(province, commune):
            where = "this household" if not named else f"commune {commune}" if commune else f"province {province}"
            raise Forbidden(f"{where} is outside your scope", field=field, code="out_of_scope")

    def _household(self, batch: _Batch, household_id: UUID, scope: Scope) -> tuple[HouseholdCase, Incident]:
        household = batch.get(HouseholdCase, household_id, "household_id")
        self._check_scope(scope, household.province_code, household.commune_code, "household_id", named=False)
        self.duplicates.check_live(household)
        incident = batch.get(Incident, household.incident_id, "incident_id")
        return household, incident

    # ----- handlers: check everything, then change ---------------------------

    def _open_incident(self, batch: _Batch, cmd: c.OpenIncident, meta: c.Meta, scope: Scope) -> dict[str, Any]:
        areas = self._check_areas(cmd.areas)
        for province in areas:
            self._check_scope(scope, province, None, "areas")
        incident = Incident(id=cmd.incident_id or uuid4(), incident_type=cmd.incident_type, title=cmd.title,
                            started_at=cmd.started_at, areas=areas, meta=meta.model_dump())
        batch.create(incident, "incident_id")
        return {"incident_id": incident.id}

    def _extend_incident_areas(self, batch: _Batch, cmd: c.ExtendIncidentAreas, meta: c.Meta,
                               scope: Scope) -> dict[str, Any]:
        incident = batch.get(Incident, cmd.incident_id, "incident_id")
        areas = self._check_areas(cmd.areas)
        for province in areas:
            self._check_scope(scope, province, None, "areas")
        incident.extend_areas(areas, meta.model_dump())
        return {"incident_id": incident.id, "areas": incident.areas}

    def _close_incident(self, batch: _Batch, cmd: c.CloseIncident, meta: c.Meta, scope: Scope) -> dict[str, Any]:
        incident = batch.get(Incident, cmd.incident_id, "incident_id")
        for province in incident.areas:
            self._check_scope(scope, province, None, "incident_id")
        incident.close(cmd.closed_at, cmd.reason, meta.model_dump())
        return {"incident_id": incident.id, "closed_at": incident.closed_at}

    def _register_household(self, batch: _Batch, cmd: c.RegisterHousehold, meta: c.Meta,
                            scope: Scope) -> dict[str, Any]:
        incident = batch.get(Incident, cmd.incident_id, "incident_id")
        incident.check_open()
        province = incident.province_of(cmd.commune_code)
        if province is None:
            raise InvalidInput(f"commune {cmd.commune_code} is not among the areas of incident {incident.id}",
                               field="commune_code", code="commune_not_in_incident")
        self._check_scope(scope, province, cmd.commune_code, "commune_code")
        find_candidates = self.duplicates.prepare_registration(batch, cmd, meta, scope)
        household = HouseholdCase(
            id=cmd.household_id or uuid4(), incident_id=incident.id, province_code=province,
            commune_code=cmd.commune_code, head_name=cmd.head_name, members=cmd.members,
            flags=list(cmd.flags), meta=meta.model_dump())
        batch.create(household, "household_id")
        candidates = find_candidates(household)
        return {"household_id": household.id, "incident_id": incident.id, "province_code": province,
                "duplicate_candidates": candidates}

    def _correct_household(self, batch: _Batch, cmd: c.CorrectHousehold, meta: c.Meta,
                           scope: Scope) -> dict[str, Any]:
        household, incident = self._household(batch, cmd.household_id, scope)
        incident.check_open()
        household.correct_details(cmd.changes(), cmd.reason, meta.model_dump())
        household.reconcile_entitlements(self.policy, incident.incident_type, meta.model_dump())
        return {"household_id": household.id, "entitlements": household.entitlements}

    def _assess_damage(self, batch: _Batch, cmd: c.AssessDamage, meta: c.Meta, scope: Scope) -> dict[str, Any]:
        household, incident = self._household(batch, cmd.household_id, scope)
        incident.check_open()
        if cmd.assessed_at < incident.started_at:
            raise InvalidInput("an assessment cannot predate the incident", field="assessed_at",
                               code="before_incident")
        if cmd.persons_short_of_food > household.members:
            raise InvalidInput(f"the household has {household.members} members", field="persons_short_of_food",
                               code="exceeds_members")
        if cmd.seriously_injured > cmd.injured:
            raise InvalidInput(f"{cmd.seriously_injured} seriously injured of {cmd.injured} injured",
                               field="seriously_injured", code="exceeds_injured")
        if cmd.dead + cmd.missing > household.members:
            raise InvalidInput(f"dead and missing exceed the household's {household.members} members",
                               field="dead", code="exceeds_members")
        assessment = cmd.model_dump(exclude={"household_id"})
        assessment["assessment_id"] = cmd.assessment_id or uuid4()
        household.assess(assessment, meta.model_dump())
        household.reconcile_entitlements(self.policy, incident.incident_type, meta.model_dump())
        return {"household_id": household.id, "assessment_id": assessment["assessment_id"],
                "entitlements": household.entitlements}

    def _record_decision(self, batch: _Batch, cmd: c.RecordDecision, meta: c.Meta, scope: Scope) -> dict[str, Any]:
        household, incident = self._household(batch, cmd.household_id, scope)
        incident.check_open()
        household.decide(cmd.model_dump(exclude={"household_id"}), meta.model_dump())
        return {"household_id": household.id, "entitlement": household.entitlements[cmd.support_type]}

    def _record_disbursement(self, batch: _Batch, cmd: c.RecordDisbursement, meta: c.Meta,
                             scope: Scope) -> dict[str, Any]:
        household, incident = self._household(batch, cmd.household_id, scope)
        if cmd.delivered_at < incident.started_at:
            raise InvalidInput("a disbursement cannot predate the incident", field="delivered_at",
                               code="before_incident")
        disbursement = cmd.model_dump(exclude={"household_id"})
        disbursement["disbursement_id"] = cmd.disbursement_id or uuid4()
        record_override = self.duplicates.prepare_payment(batch, household, cmd, meta)
        charge_fund = self.funding.prepare_charge(batch, household, disbursement, meta, scope)
        household.disburse(disbursement, meta.model_dump())
        charge_fund()
        record_override(str(disbursement["disbursement_id"]))
        return {"household_id": household.id, "disbursement_id": disbursement["disbursement_id"]}

    def _confirm_receipt(self, batch: _Batch, cmd: c.ConfirmReceipt, meta: c.Meta, scope: Scope) -> dict[str, Any]:
        household, _ = self._household(batch, cmd.household_id, scope)
        household.confirm_receipt(cmd.model_dump(exclude={"household_id"}), meta.model_dump())
        return {"household_id": household.id, "disbursement_id": cmd.disbursement_id}

    def _correct_disbursement(self, batch: _Batch, cmd: c.CorrectDisbursement, meta: c.Meta,
                              scope: Scope) -> dict[str, Any]:
        household, _ = self._household(batch, cmd.household_id, scope)
        self.duplicates.check_own_disbursement(household, cmd.disbursement_id)
        settle_fund = self.funding.prepare_correction(batch, household, cmd, meta)
        household.correct_disbursement(cmd.model_dump(exclude={"household_id"}), meta.model_dump())
        settle_fund()
        return {"household_id": household.id, "disbursement_id": cmd.disbursement_id}

    # ----- queries -------------------------------------------------------------

    def _load(self, cls: type[Aggregate], aggregate_id: UUID | str, field: str) -> Any:
        aggregate_id = as_uuid(aggregate_id, field)
        try:
            found = self.app.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no {cls.__name__} with id {aggregate_id}", field=field) from None
        if not isinstance(found, cls):
            raise NotFound(f"{aggregate_id} is not a {cls.__name__}", field=field)
        return found

    def household(self, household_id: UUID | str) -> dict[str, Any]:
        return plain(self._load(HouseholdCase, household_id, "household_id").summary())

    def incident(self, incident_id: UUID | str) -> dict[str, Any]:
        return plain(self._load(Incident, incident_id, "incident_id").summary())

    def aggregate_history(self, aggregate_id: UUID | str, after_version: int = 0,
                          limit: int = 100) -> list[Envelope]:
        """One aggregate's events in version order (their log positions are not
        kept on the aggregate's stream, so `notification_id` is None here)."""
        aggregate_id = as_uuid(aggregate_id, "aggregate_id")
        stored = self.app.recorder.select_events(aggregate_id, gt=after_version or None, limit=limit)
        if not stored and after_version == 0:
            raise NotFound(f"nothing is recorded under id {aggregate_id}", field="aggregate_id")
        return [from_stored_event(s) for s in stored]

    def log(self, after: int = 0, limit: int = 100) -> list[Envelope]:
        """Everything, in recorded order, after notification id `after`."""
        notifications = self.app.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        return [from_notification(n) for n in notifications]

    def last_notification_id(self) -> int:
        return self.app.recorder.max_notification_id() or 0
