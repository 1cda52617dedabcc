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
from typing import Any, Iterable, Iterator, Sequence
from uuid import UUID, uuid4

import structlog
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from emergency.application import AidApplication
from emergency.areas import AreaRegistry
from emergency.batch import Batch, Handler, Scope
from emergency.commands import (
    Area,
    AssessDamage,
    CloseIncident,
    Command,
    ConfirmReceipt,
    CorrectDisbursement,
    CorrectHousehold,
    ExtendIncidentAreas,
    Meta,
    OpenIncident,
    RecordDecision,
    RecordDisbursement,
    RegisterHousehold,
)
from emergency.domain import HouseholdCase, IdempotencyRecord, Incident
from emergency.domain.household import (
    Assessment,
    Decision,
    Disbursement,
    DisbursementCorrection,
    HouseholdChanges,
    Receipt,
)
from emergency.domain.payload import EventMeta
from emergency.duplicates import DuplicateRules, Duplicates
from emergency.envelope import Envelope, from_notification, from_stored_event, plain
from emergency.errors import AidError, Conflict, InvalidInput, NotFound
from emergency.funding.handlers import Funding
from emergency.funding.rules import load_funding_policy
from emergency.help_requests import HelpRequests
from emergency.policy import Policy
from emergency.policy.request_deadline import load_request_deadlines

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 12


@dataclass(frozen=True)
class Submission:
    command: Command
    meta: Meta = Meta()
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


def request_hash(command: Command) -> str:
    body = json.dumps({"command": command.name, "body": command.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


class AidService:
    def __init__(self, app: AidApplication, policy: Policy, areas: AreaRegistry,
                 duplicates: DuplicateRules = DuplicateRules()):
        self.app = app
        self.policy = policy
        self.areas = areas
        self.funding = Funding(app, load_funding_policy(), areas)
        self.duplicates = Duplicates(policy, duplicates)
        self.help_requests = HelpRequests(app, areas, load_request_deadlines(policy.calendar))
        self._handlers: dict[type[Command], Handler] = {
            OpenIncident: self._open_incident,
            ExtendIncidentAreas: self._extend_incident_areas,
            CloseIncident: self._close_incident,
            RegisterHousehold: self._register_household,
            CorrectHousehold: self._correct_household,
            AssessDamage: self._assess_damage,
            RecordDecision: self._record_decision,
            RecordDisbursement: self._record_disbursement,
            ConfirmReceipt: self._confirm_receipt,
            CorrectDisbursement: self._correct_disbursement,
            **self.funding.handlers(),
            **self.duplicates.handlers(),
            **self.help_requests.handlers(),
        }

    # ----- running commands --------------------------------------------------

    def execute(self, command: Command, meta: Meta = Meta(), *, idempotency_key: str | None = None,
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
            batch = Batch(self.app, retry=attempt > 1)
            batch.preload(_named_ids(submissions))
            outcomes = [self._run_one(batch, s) for s in submissions]
            batch.settle()
            try:
                recordings = self.app.save(*batch.aggregates.values())
            except IntegrityError:
                log.info("concurrent_write_retry", attempt=attempt, size=len(submissions))
                # Jittered backoff, so contending writers stop colliding in step.
                time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 8)))
                continue
            self._attach_notification_ids(batch, outcomes, recordings)
            return outcomes
        error = Conflict("the records changed concurrently too many times; retry", code="concurrent_update")
        return [error] * len(submissions)

    @staticmethod
    def _attach_notification_ids(batch: Batch, outcomes: list[Outcome | AidError], recordings: list) -> None:
        # Many commands of a batch may append to one aggregate (a fund): each
        # gets the positions of its own events only.
        position = {(r.domain_event.originator_id, r.domain_event.originator_version): r.notification.id
                    for r in recordings}
        for outcome, touched in zip(outcomes, batch.touched):
            if isinstance(outcome, Outcome):
                outcome.notification_ids = sorted(position[(a, v)] for a, first, last in touched
                                                  for v in range(first, last + 1))

    def _run_one(self, batch: Batch, submission: Submission) -> Outcome | AidError:
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

    def _apply(self, batch: Batch, submission: Submission) -> Outcome:
        command = submission.command
        record_id = None
        if submission.idempotency_key is not None:
            record_id = IdempotencyRecord.id_for(submission.key_scope, submission.idempotency_key)
            previous = batch.find(record_id)
            if previous is not None:
                return self._replay(previous, command)
        handler = self._handlers[type(command)]
        result = plain(handler(batch, command, submission.meta.recorded(), submission.scope))
        if record_id is not None:
            batch.add(IdempotencyRecord(
                id=record_id, scope=submission.key_scope, key=submission.idempotency_key,
                request_hash=request_hash(command), command=command.name, result=result))
        return Outcome(command.name, result)

    @staticmethod
    def _replay(record: Aggregate, command: Command) -> Outcome:
        assert isinstance(record, IdempotencyRecord)
        if record.request_hash != request_hash(command):
            raise Conflict("this Idempotency-Key was already used with a different request",
                           field="Idempotency-Key", code="idempotency_key_reused")
        return Outcome(record.command, record.result, replayed=True)

    # ----- checks shared by handlers ---------------------------------------

    def _check_areas(self, areas: Iterable[Area]) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for i, area in enumerate(areas):
            path = f"areas.{i}"
            self.areas.check_province(area.province_code, f"{path}.province_code")
            for j, commune in enumerate(area.commune_codes):
                self.areas.check_commune(commune, area.province_code, f"{path}.commune_codes.{j}")
            result.setdefault(area.province_code, [])
            result[area.province_code] = sorted(set(result[area.province_code]) | set(area.commune_codes))
        return result

    def _household(self, batch: Batch, household_id: UUID, scope: Scope) -> tuple[HouseholdCase, Incident]:
        household = batch.get(HouseholdCase, household_id, "household_id")
        scope.check(household.province_code, household.commune_code, "household_id", named=False)
        self.duplicates.check_live(household)
        incident = batch.get(Incident, household.incident_id, "incident_id")
        return household, incident

    # ----- handlers: check everything, then change ---------------------------

    def _open_incident(self, batch: Batch, cmd: OpenIncident, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        areas = self._check_areas(cmd.areas)
        for province in areas:
            scope.check(province, None, "areas")
        incident = Incident(id=cmd.incident_id or uuid4(), incident_type=cmd.incident_type, title=cmd.title,
                            started_at=cmd.started_at, areas=areas, meta=meta)
        batch.create(incident, "incident_id")
        return {"incident_id": incident.id}

    def _extend_incident_areas(self, batch: Batch, cmd: ExtendIncidentAreas, meta: EventMeta,
                               scope: Scope) -> dict[str, Any]:
        incident = batch.get(Incident, cmd.incident_id, "incident_id")
        areas = self._check_areas(cmd.areas)
        for province in areas:
            scope.check(province, None, "areas")
        incident.extend_areas(areas, meta)
        return {"incident_id": incident.id, "areas": incident.areas}

    def _close_incident(self, batch: Batch, cmd: CloseIncident, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        incident = batch.get(Incident, cmd.incident_id, "incident_id")
        for province in incident.areas:
            scope.check(province, None, "incident_id")
        incident.close(cmd.closed_at, cmd.reason, meta)
        return {"incident_id": incident.id, "closed_at": incident.closed_at}

    def _register_household(self, batch: Batch, cmd: RegisterHousehold, meta: EventMeta,
                            scope: Scope) -> dict[str, Any]:
        incident = batch.get(Incident, cmd.incident_id, "incident_id")
        incident.check_open()
        province = incident.province_of(cmd.commune_code)
        if province is None:
            raise InvalidInput(f"commune {cmd.commune_code} is not among the areas of incident {incident.id}",
                               field="commune_code", code="commune_not_in_incident")
        scope.check(province, cmd.commune_code, "commune_code")
        find_candidates = self.duplicates.prepare_registration(batch, cmd, meta, scope)
        household = HouseholdCase(
            id=cmd.household_id or uuid4(), incident_id=incident.id, province_code=province,
            commune_code=cmd.commune_code, head_name=cmd.head_name, members=cmd.members,
            flags=list(cmd.flags), meta=meta)
        batch.create(household, "household_id")
        candidates = find_candidates(household)
        return {"household_id": household.id, "incident_id": incident.id, "province_code": province,
                "duplicate_candidates": candidates}

    def _correct_household(self, batch: Batch, cmd: CorrectHousehold, meta: EventMeta,
                           scope: Scope) -> dict[str, Any]:
        household, incident = self._household(batch, cmd.household_id, scope)
        incident.check_open()
        changes = HouseholdChanges(head_name=cmd.head_name, members=cmd.members,
                                   flags=list(cmd.flags) if cmd.flags is not None else None)
        household.correct_details(changes, cmd.reason, meta)
        household.reconcile_entitlements(self.policy, incident.incident_type, meta)
        return {"household_id": household.id, "entitlements": household.entitlements}

    def _assess_damage(self, batch: Batch, cmd: AssessDamage, meta: EventMeta, scope: Scope) -> dict[str, Any]:
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
        assessment_id = cmd.assessment_id or uuid4()
        household.assess(Assessment(
            assessment_id=str(assessment_id), assessed_at=cmd.assessed_at, dead=cmd.dead, missing=cmd.missing,
            injured=cmd.injured, seriously_injured=cmd.seriously_injured, house_damage=cmd.house_damage,
            house_class=cmd.house_class, persons_short_of_food=cmd.persons_short_of_food,
            food_months=cmd.food_months, orphaned_children=cmd.orphaned_children,
            relocation_ordered=cmd.relocation_ordered, livelihood_lost=cmd.livelihood_lost, evacuated=cmd.evacuated,
            supersedes=str(cmd.supersedes) if cmd.supersedes else None, notes=cmd.notes), meta)
        household.reconcile_entitlements(self.policy, incident.incident_type, meta)
        return {"household_id": household.id, "assessment_id": assessment_id, "entitlements": household.entitlements}

    def _record_decision(self, batch: Batch, cmd: RecordDecision, meta: EventMeta,
                         scope: Scope) -> dict[str, Any]:
        household, incident = self._household(batch, cmd.household_id, scope)
        incident.check_open()
        household.decide(Decision(
            support_type=cmd.support_type, decision=cmd.decision, revision=cmd.revision, amount_vnd=cmd.amount_vnd,
            quantity=cmd.quantity, reason=cmd.reason, decided_by=cmd.decided_by, level=cmd.level,
            decided_at=cmd.decided_at), meta)
        return {"household_id": household.id, "entitlement": household.entitlements[cmd.support_type]}

    def _record_disbursement(self, batch: Batch, cmd: RecordDisbursement, meta: EventMeta,
                             scope: Scope) -> dict[str, Any]:
        household, incident = self._household(batch, cmd.household_id, scope)
        if cmd.delivered_at < incident.started_at:
            raise InvalidInput("a disbursement cannot predate the incident", field="delivered_at",
                               code="before_incident")
        disbursement_id = cmd.disbursement_id or uuid4()
        disbursement = Disbursement(
            disbursement_id=str(disbursement_id), support_type=cmd.support_type, form=cmd.form,
            amount_vnd=cmd.amount_vnd, quantity=cmd.quantity, unit=cmd.unit, item=cmd.item,
            valuation_vnd=cmd.valuation_vnd, channel=cmd.channel, funding_source=cmd.funding_source,
            fund_id=cmd.fund_id, delivered_at=cmd.delivered_at, delivered_by=cmd.delivered_by)
        record_override = self.duplicates.prepare_payment(batch, household, cmd, meta)
        charge_fund = self.funding.prepare_charge(batch, household, disbursement, meta, scope)
        household.disburse(disbursement, meta)
        charge_fund()
        record_override(str(disbursement_id))
        return {"household_id": household.id, "disbursement_id": disbursement_id}

    def _confirm_receipt(self, batch: Batch, cmd: ConfirmReceipt, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        household, _ = self._household(batch, cmd.household_id, scope)
        household.confirm_receipt(Receipt(disbursement_id=str(cmd.disbursement_id), confirmed_at=cmd.confirmed_at,
                                          confirmed_by=cmd.confirmed_by, method=cmd.method), meta)
        return {"household_id": household.id, "disbursement_id": cmd.disbursement_id}

    def _correct_disbursement(self, batch: Batch, cmd: CorrectDisbursement, meta: EventMeta,
                              scope: Scope) -> dict[str, Any]:
        household, _ = self._household(batch, cmd.household_id, scope)
        self.duplicates.check_own_disbursement(household, cmd.disbursement_id)
        correction = DisbursementCorrection(disbursement_id=str(cmd.disbursement_id), void=cmd.void,
                                            amount_vnd=cmd.amount_vnd, quantity=cmd.quantity, reason=cmd.reason)
        settle_fund = self.funding.prepare_correction(batch, household, correction, meta)
        household.correct_disbursement(correction, meta)
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
