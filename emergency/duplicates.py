"""Possible duplicate households, run inside `AidService` batches.

- A registration looks up the households already registered in its incident
  under the same commune, folded head's name and members within one, or the
  same citizen id's keyed hash (`HouseholdIndex`: a few reads by id), and
  records a `DuplicatePair` with each. Nothing merges by itself.
- While a pair is unresolved, a payment to either household is refused
  (`possible_duplicate`, naming the other) unless a coordinator overrides it
  with a reason, which the pair records; a setting may allow them instead.
- A coordinator resolves a pair as different households, or the same one:
  the survivor takes in the other's assessments and live payments and its
  entitlements are recomputed once; the other's cases are withdrawn, and it
  takes no more writes. Reopening the pair undoes the merge.

As everywhere in the service, each handler checks everything before it
changes anything, so a refusal records nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from uuid import UUID

from emergency.batch import Batch, Handler, Scope
from emergency.commands import Command, RecordDisbursement, RegisterHousehold
from emergency.domain import HouseholdCase, Incident
from emergency.domain.duplicates import DuplicatePair, HouseholdIndex, Reopening, Resolution
from emergency.domain.payload import EventMeta
from emergency.duplicate_commands import ReopenDuplicate, ResolveDuplicate
from emergency.errors import Conflict, Forbidden, InvalidInput
from emergency.names import fold
from emergency.policy import Policy

OVERRIDERS = frozenset({"coordinator", "admin"})


@dataclass(frozen=True)
class DuplicateRules:
    refuse_payments: bool = True
    # The key of the citizen ids' hash; empty: citizen ids are not accepted.
    citizen_id_key: bytes = b""

    def id_hash(self, citizen_id: str) -> str:
        """A keyed hash (HMAC-SHA256): without the key, the 10^12 possible
        numbers cannot be hashed one by one to find which one it is."""
        if not self.citizen_id_key:
            raise InvalidInput("citizen ids are not accepted: no key is configured to hash them",
                               field="citizen_id", code="citizen_id_not_accepted")
        return hmac.new(self.citizen_id_key, citizen_id.encode(), hashlib.sha256).hexdigest()


def name_key(incident_id: UUID, commune_code: str, head_name: str, members: int) -> UUID:
    return HouseholdIndex.id_for("name", str(incident_id), commune_code, fold(head_name), str(members))


def citizen_key(incident_id: UUID, id_hash: str) -> UUID:
    return HouseholdIndex.id_for("citizen", str(incident_id), id_hash)


def _nothing(*_: Any) -> None:
    """The follow-up of a payment no open pair holds back."""


class Duplicates:
    def __init__(self, policy: Policy, rules: DuplicateRules):
        self.policy = policy
        self.rules = rules

    def handlers(self) -> dict[type[Command], Handler]:
        return {ResolveDuplicate: self._resolve, ReopenDuplicate: self._reopen}

    # ----- registration -------------------------------------------------------

    def prepare_registration(self, batch: Batch, cmd: RegisterHousehold, meta: EventMeta,
                             scope: Scope) -> Callable[[HouseholdCase], list[str]]:
        """Check the citizen id; the returned step records the new household
        in the indexes and a pair with each candidate, and names those within
        the caller's scope (a pair found by citizen id may span communes)."""
        id_hash = self.rules.id_hash(cmd.citizen_id.get_secret_value()) if cmd.citizen_id else None

        def record(household: HouseholdCase) -> list[str]:
            near = [name_key(household.incident_id, household.commune_code, household.head_name, m)
                    for m in (household.members - 1, household.members, household.members + 1) if m >= 1]
            by_id = [citizen_key(household.incident_id, id_hash)] if id_hash else []
            _preload(batch, near + by_id)
            found: dict[str, set[str]] = {}
            for keys, reason in ((near, "name"), (by_id, "citizen_id")):
                for other in _listed(batch, keys):
                    found.setdefault(other, set()).add(reason)
            candidates = self._roots(batch, found, household)
            for key in (name_key(household.incident_id, household.commune_code, household.head_name,
                                 household.members), *by_id):
                _list(batch, key, str(household.id), meta)
            shown = []
            for other, reasons in sorted(candidates.items()):
                found_with = self._suspect(batch, household, other, sorted(reasons), meta)
                if scope.allows(found_with.province_code, found_with.commune_code):
                    shown.append(other)
            return shown

        return record

    @staticmethod
    def _roots(batch: Batch, found: dict[str, set[str]], household: HouseholdCase) -> dict[str, set[str]]:
        """A candidate merged into another household stands for that one."""
        roots: dict[str, set[str]] = {}
        for other, reasons in found.items():
            root = batch.get(HouseholdCase, UUID(other), "household_id").merged_into() or other
            if root != str(household.id):
                roots.setdefault(root, set()).update(reasons)
        return roots

    @staticmethod
    def _suspect(batch: Batch, household: HouseholdCase, other_id: str, reasons: list[str],
                 meta: EventMeta) -> HouseholdCase:
        other = batch.get(HouseholdCase, UUID(other_id), "household_id")
        pair = DuplicatePair(id=DuplicatePair.id_for(household.id, other_id), incident_id=household.incident_id,
                             province_code=household.province_code, commune_code=household.commune_code,
                             household_ids=sorted((str(household.id), other_id)), reasons=reasons,
                             meta=meta)
        batch.add(pair)
        household.suspect_duplicate(str(pair.id), other_id, meta)
        other.suspect_duplicate(str(pair.id), str(household.id), meta)
        return other

    # ----- checks on other household commands -----------------------------------

    @staticmethod
    def check_live(household: HouseholdCase) -> None:
        survivor = household.merged_into()
        if survivor is not None:
            raise Conflict(f"this household was merged into household {survivor}: write to that one",
                           field="household_id", code="merged_household")

    @staticmethod
    def check_own_disbursement(household: HouseholdCase, disbursement_id: UUID) -> None:
        found = household.disbursements.get(str(disbursement_id), {})
        if found.get("from_household"):
            raise Conflict(f"disbursement {disbursement_id} was paid to household {found['from_household']}, "
                           "merged into this one: reopen the pair to change it", field="disbursement_id",
                           code="merged_disbursement")

    def prepare_payment(self, batch: Batch, household: HouseholdCase, cmd: RecordDisbursement,
                        meta: EventMeta) -> Callable[[str], None]:
        """Refuse a payment to one of an unresolved pair, unless overridden; the
        returned step records the override on each open pair."""
        pairs = [batch.get(DuplicatePair, UUID(p), "household_id") for p in household.duplicate_pairs()]
        open_pairs = [p for p in pairs if p.unresolved]
        if not open_pairs or not self.rules.refuse_payments:
            return _nothing
        if cmd.duplicate_override is None:
            others = ", ".join(f"household {p.other(household.id)}" for p in open_pairs)
            raise Conflict(f"this household may be the same as {others}: a coordinator resolves the pair "
                           "first, or overrides with duplicate_override", field="household_id",
                           code="possible_duplicate")
        if meta.role not in OVERRIDERS:
            raise Forbidden("only a coordinator may pay a possible duplicate", field="duplicate_override",
                            code="forbidden_role")

        def record(disbursement_id: str) -> None:
            for pair in open_pairs:
                pair.record_override(str(household.id), disbursement_id, cmd.duplicate_override, meta)

        return record

    # ----- a coordinator's resolutions --------------------------------------------

    def _pair(self, batch: Batch, pair_id: UUID, scope: Scope) -> tuple[DuplicatePair, list[HouseholdCase]]:
        pair = batch.get(DuplicatePair, pair_id, "pair_id")
        households = [batch.get(HouseholdCase, UUID(h), "pair_id") for h in pair.household_ids]
        for h in households:
            if not scope.allows(h.province_code, h.commune_code):
                raise Forbidden("this pair is outside your scope", field="pair_id", code="out_of_scope")
        return pair, households

    def _resolve(self, batch: Batch, cmd: ResolveDuplicate, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        pair, households = self._pair(batch, cmd.pair_id, scope)
        pair.check_unresolved()
        survivor_id = absorbed_id = None
        merged = False
        if cmd.outcome == "same":
            chosen = [h for h in households if h.id == cmd.survivor_id]
            if not chosen:
                raise InvalidInput("survivor_id is not one of the pair", field="survivor_id", code="not_in_pair")
            survivor = self._root(batch, chosen[0])
            absorbed = self._root(batch, next(h for h in households if h.id != cmd.survivor_id))
            survivor_id, absorbed_id = str(survivor.id), str(absorbed.id)
            if survivor.id != absorbed.id:  # else: already one household, through other pairs
                self._merge(batch, pair, survivor, absorbed, meta)
                merged = True
        pair.resolve(Resolution(outcome=cmd.outcome, reason=cmd.reason, resolved_by=cmd.resolved_by,
                                resolved_at=cmd.resolved_at, survivor_id=survivor_id, absorbed_id=absorbed_id,
                                merged=merged), meta)
        return {"pair_id": pair.id, "status": pair.status, "survivor_id": survivor_id, "absorbed_id": absorbed_id}

    @staticmethod
    def _root(batch: Batch, household: HouseholdCase) -> HouseholdCase:
        survivor = household.merged_into()
        return household if survivor is None else batch.get(HouseholdCase, UUID(survivor), "survivor_id")

    def _merge(self, batch: Batch, pair: DuplicatePair, survivor: HouseholdCase, absorbed: HouseholdCase,
               meta: EventMeta) -> None:
        if absorbed.absorbed():
            raise Conflict(f"household {absorbed.id} has households merged into it: name it the survivor",
                           field="survivor_id", code="has_absorbed")
        incident = batch.get(Incident, survivor.incident_id, "incident_id")
        incident.check_open()
        survivor.absorb(str(pair.id), absorbed, meta)  # checks, then the first change
        absorbed.merge_into(str(pair.id), str(survivor.id), meta)
        survivor.reconcile_entitlements(self.policy, incident.incident_type, meta)

    def _reopen(self, batch: Batch, cmd: ReopenDuplicate, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        pair, _ = self._pair(batch, cmd.pair_id, scope)
        pair.check_resolved()
        resolution = pair.resolution
        if resolution is not None and resolution.merged:
            survivor = batch.get(HouseholdCase, UUID(resolution.survivor_id), "pair_id")
            absorbed = batch.get(HouseholdCase, UUID(resolution.absorbed_id), "pair_id")
            incident = batch.get(Incident, survivor.incident_id, "incident_id")
            incident.check_open()
            survivor.separate(str(pair.id), str(absorbed.id), meta)
            survivor.reconcile_entitlements(self.policy, incident.incident_type, meta)
            absorbed.restore(str(pair.id), meta)
            absorbed.reconcile_entitlements(self.policy, incident.incident_type, meta)
        pair.reopen(Reopening(reason=cmd.reason, reopened_by=cmd.reopened_by, reopened_at=cmd.reopened_at), meta)
        return {"pair_id": pair.id, "status": pair.status}


def _preload(batch: Batch, ids: list[UUID]) -> None:
    """Read the indexes a registration looks at in one query (None: none yet)."""
    wanted = [i for i in ids if i not in batch.aggregates and i not in batch.preloaded]
    batch.preloaded.update(batch.app.get_many(wanted))


def _listed(batch: Batch, keys: Iterable[UUID]) -> list[str]:
    found: list[str] = []
    for key in keys:
        index = batch.find(key)
        if isinstance(index, HouseholdIndex):
            found.extend(index.household_ids)
    return found


def _list(batch: Batch, key: UUID, household_id: str, meta: EventMeta) -> None:
    index = batch.find(key)
    if isinstance(index, HouseholdIndex):
        index.add(household_id, meta)
    else:
        batch.add(HouseholdIndex(id=key, household_id=household_id, meta=meta))
