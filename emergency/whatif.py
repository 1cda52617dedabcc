"""What if a past incident had been handled under other rules?

Recomputes every household's entitlements from its current assessment under
another rule version and/or the base level in effect on another day (e.g. the
2024 base level instead of the 2021 one), next to what was recorded, and
measures coverage under those amounts. Nothing is recorded: the households
are rebuilt in memory from their events and only read.

Comparisons are of *computed* amounts (what the rules give). For coverage,
what is owed under the other rules keeps the recorded human decisions: a
rejection stays a rejection, an officer's adjusted amount stays that amount;
otherwise the recomputed amount is owed. Deliveries are the recorded ones, and
a support already recorded keeps its recorded deadline (the need was seen
then); one that only the other rules give is due as they compute it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from emergency.domain import HouseholdCase, Incident
from emergency.errors import InvalidInput, NotFound
from emergency.policy import ComputedEntitlement, Policy
from emergency.policy.rules import PolicyError


@dataclass(frozen=True)
class Rules:
    """The rules to recompute under: None keeps what was in effect."""

    version_id: str | None = None
    base_level_on: date | None = None


@dataclass(frozen=True)
class Line:
    """One household's entitlement to one support type, recorded and recomputed."""

    household_id: str
    province_code: str
    commune_code: str
    members: int
    support_type: str
    recorded: dict[str, Any] | None  # the current recorded entitlement (None: not entitled then)
    what_if: ComputedEntitlement | None  # None: not entitled under the other rules
    owed_vnd: int  # owed under the other rules, decisions kept
    owed_quantity: int
    delivered_vnd: int
    delivered_quantity: int
    completed_at: datetime | None  # when deliveries first covered what would be owed
    due_at: datetime | None

    @property
    def recorded_vnd(self) -> int:
        return (self.recorded or {}).get("amount_vnd") or 0

    @property
    def what_if_vnd(self) -> int:
        return (self.what_if.amount_vnd if self.what_if else None) or 0

    @property
    def change(self) -> str:
        if self.recorded is None:
            return "new"
        if self.what_if is None:
            return "dropped"
        before = (self.recorded.get("amount_vnd"), self.recorded.get("quantity"))
        after = (self.what_if.amount_vnd, self.what_if.quantity)
        if before == after:
            return "same"
        return "more" if (after[0] or 0, after[1] or 0) > (before[0] or 0, before[1] or 0) else "less"

    def as_row(self, at: datetime) -> dict[str, Any]:
        """A flat row for CSV and JSON: who would be entitled to what, and what was recorded."""
        recorded = self.recorded or {}
        computed = self.what_if
        return {
            "household_id": self.household_id, "province_code": self.province_code,
            "commune_code": self.commune_code, "members": self.members, "support_type": self.support_type,
            "change": self.change, "recorded_status": recorded.get("status"),
            "recorded_amount_vnd": recorded.get("amount_vnd"), "recorded_quantity": recorded.get("quantity"),
            "recorded_rule_version": recorded.get("rule_version"),
            "recorded_base_level_vnd": recorded.get("base_level_vnd"),
            "what_if_amount_vnd": computed.amount_vnd if computed else None,
            "what_if_quantity": computed.quantity if computed else None,
            "what_if_rule_version": computed.rule_version if computed else None,
            "what_if_base_level_vnd": computed.base_level_vnd if computed else None,
            "unit": computed.unit if computed else recorded.get("unit"),
            "owed_vnd": self.owed_vnd, "delivered_vnd": self.delivered_vnd,
            "due_at": self.due_at.isoformat() if self.due_at else None, "state": self.state(at),
        }

    def state(self, at: datetime) -> str | None:
        """on_time | late | overdue | within_deadline at `at`; None if not owed."""
        if self.what_if is None or self.due_at is None or (self.recorded or {}).get("status") == "rejected":
            return None
        if self.completed_at is not None and self.completed_at <= at:
            return "on_time" if self.completed_at <= self.due_at else "late"
        return "overdue" if self.due_at < at else "within_deadline"


@dataclass
class Totals:
    households_recorded: set[str] = field(default_factory=set)
    households_what_if: set[str] = field(default_factory=set)
    recorded_vnd: int = 0
    what_if_vnd: int = 0
    recorded_quantity: int = 0
    what_if_quantity: int = 0
    owed_vnd: int = 0
    delivered_vnd: int = 0
    still_owed_vnd: int = 0
    states: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, line: Line, at: datetime) -> None:
        if line.recorded is not None:
            self.households_recorded.add(line.household_id)
            self.recorded_vnd += line.recorded_vnd
            self.recorded_quantity += line.recorded.get("quantity") or 0
        if line.what_if is not None:
            self.households_what_if.add(line.household_id)
            self.what_if_vnd += line.what_if_vnd
            self.what_if_quantity += line.what_if.quantity or 0
        state = line.state(at)
        if state is not None:
            self.states[state] += 1
            self.owed_vnd += line.owed_vnd
            self.delivered_vnd += line.delivered_vnd
            self.still_owed_vnd += max(line.owed_vnd - line.delivered_vnd, 0)

    def as_dict(self) -> dict[str, Any]:
        due_or_done = self.states["on_time"] + self.states["late"] + self.states["overdue"]
        return {
            "households_recorded": len(self.households_recorded), "households_what_if": len(self.households_what_if),
            "recorded_vnd": self.recorded_vnd, "what_if_vnd": self.what_if_vnd,
            "difference_vnd": self.what_if_vnd - self.recorded_vnd,
            "recorded_quantity": self.recorded_quantity, "what_if_quantity": self.what_if_quantity,
            "owed_vnd": self.owed_vnd, "delivered_vnd": self.delivered_vnd,
            "still_owed_vnd": self.still_owed_vnd,
            **{s: self.states[s] for s in ("on_time", "late", "overdue", "within_deadline")},
            "timely_pct": round(100 * self.states["on_time"] / due_or_done, 2) if due_or_done else None,
        }


@dataclass
class Report:
    incident_id: str
    rules: Rules
    at: datetime
    lines: list[Line]

    def totals(self, by: str = "support_type") -> dict[str, dict[str, Any]]:
        """Totals per support type (or province, commune), and "ALL"."""
        groups: dict[str, Totals] = defaultdict(Totals)
        for line in self.lines:
            groups[getattr(line, by)].add(line, self.at)
            groups["ALL"].add(line, self.at)
        return {key: groups[key].as_dict() for key in sorted(groups, key=lambda k: (k == "ALL", k))}


def fold_incident(events: Iterable[DomainEventProtocol[UUID]],
                  incident_id: UUID) -> tuple[Incident, list[HouseholdCase]]:
    """Rebuild an incident and its households from domain events in log order."""
    aggregates: dict[UUID, Any] = {}
    for event in events:
        ours = event.originator_id in aggregates or event.originator_id == incident_id or (
            isinstance(event, HouseholdCase.Registered) and event.incident_id == incident_id)
        if ours:
            aggregates[event.originator_id] = event.mutate(aggregates.get(event.originator_id))  # type: ignore
    incident = aggregates.pop(incident_id, None)
    if not isinstance(incident, Incident):
        raise NotFound(f"no incident with id {incident_id}", field="incident_id")
    return incident, list(aggregates.values())


def what_if(incident: Incident, households: Iterable[HouseholdCase], policy: Policy, rules: Rules,
            at: datetime) -> Report:
    """Every household's entitlements under `rules`, next to the recorded ones,
    and their state at `at` against the recorded deliveries."""
    lines = []
    for household in sorted(households, key=lambda h: str(h.id)):
        lines.extend(_household_lines(household, incident.incident_type, policy, rules))
    return Report(str(incident.id), rules, at, lines)


def _household_lines(household: HouseholdCase, incident_type: str, policy: Policy, rules: Rules) -> list[Line]:
    need = household.need(incident_type)
    computed: dict[str, ComputedEntitlement] = {}
    if need is not None:
        basis = household.assessments[household.current_assessment]
        try:
            computed = {e.support_type: e for e in policy.entitlements(
                need, basis["assessed_at"], household.province_code, rules.version_id, rules.base_level_on)}
        except PolicyError as error:
            raise InvalidInput(str(error), field="rule_version" if rules.version_id else "base_level_on") from None
    recorded = {code: e for code, e in household.entitlements.items() if e["status"] != "withdrawn"}
    return [_line(household, code, recorded.get(code), computed.get(code))
            for code in sorted(set(recorded) | set(computed))]


def _line(household: HouseholdCase, code: str, recorded: dict[str, Any] | None,
          computed: ComputedEntitlement | None) -> Line:
    owed_vnd, owed_quantity = _owed(recorded, computed)
    deliveries = sorted((d for d in household.disbursements.values()
                         if d["support_type"] == code and not d["voided"]), key=lambda d: d["delivered_at"])
    due_at = recorded["due_at"] if recorded else computed.due_at if computed else None
    return Line(
        household_id=str(household.id), province_code=household.province_code,
        commune_code=household.commune_code, members=household.members, support_type=code, recorded=recorded,
        what_if=computed, owed_vnd=owed_vnd, owed_quantity=owed_quantity,
        delivered_vnd=sum(d["amount_vnd"] or 0 for d in deliveries),
        delivered_quantity=sum(d["quantity"] or 0 for d in deliveries),
        completed_at=_completed_at(deliveries, owed_vnd, owed_quantity) if computed else None, due_at=due_at)


def _owed(recorded: dict[str, Any] | None, computed: ComputedEntitlement | None) -> tuple[int, int]:
    if computed is None or (recorded or {}).get("status") == "rejected":
        return 0, 0
    if recorded is not None and recorded["status"] == "adjusted":
        return recorded["decided_amount_vnd"] or 0, recorded["decided_quantity"] or 0
    return computed.amount_vnd or 0, computed.quantity or 0


def _completed_at(deliveries: list[dict[str, Any]], owed_vnd: int, owed_quantity: int) -> datetime | None:
    if owed_vnd == 0 and owed_quantity == 0:
        return None  # nothing computable is owed (an amount still to be decided)
    amount = quantity = 0
    for delivery in deliveries:
        amount += delivery["amount_vnd"] or 0
        quantity += delivery["quantity"] or 0
        if amount >= owed_vnd and quantity >= owed_quantity:
            return delivery["delivered_at"]
    return None
