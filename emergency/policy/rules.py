"""Load the versioned rule data and compute entitlements from an assessed need."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from emergency.clock import VIETNAM
from emergency.policy.calendar import HolidayCalendar

SUPPORT_TYPES = (
    "FOOD_DISASTER", "FOOD_TET", "NECESSITIES", "INJURED", "BURIAL",
    "HOUSE_REBUILD", "HOUSE_RELOCATE", "HOUSE_REPAIR", "CHILD", "LIVELIHOOD",
)
AMOUNT_KEYS = ("fixed_vnd", "base_multiple", "rice_kg_per_person_month", "in_kind", "by_decision")
PER_UNITS = ("household", "person_short_of_food", "injured", "seriously_injured", "dead_or_missing",
             "orphaned_child")
CONDITION_KEYS = ("house_damage_in", "flags_any", "requires", "incident_types")


class PolicyError(ValueError):
    """The rule data itself is inconsistent: refuse to start rather than guess."""


@dataclass(frozen=True)
class BaseLevel:
    effective_from: date
    vnd: int
    source: str
    confirmed: bool


@dataclass(frozen=True)
class Need:
    """What the rules read: the household's situation after one assessment."""

    incident_type: str
    flags: frozenset[str]
    house_damage: str
    persons_short_of_food: int
    food_months: int
    injured: int
    seriously_injured: int
    dead: int
    missing: int
    orphaned_children: int
    relocation_ordered: bool
    livelihood_lost: bool

    def units(self, per: str) -> int:
        return {
            "household": 1,
            "person_short_of_food": self.persons_short_of_food,
            "injured": self.injured,
            "seriously_injured": self.seriously_injured,
            "dead_or_missing": self.dead + self.missing,
            "orphaned_child": self.orphaned_children,
        }[per]


@dataclass(frozen=True)
class ComputedEntitlement:
    support_type: str
    units: int
    amount_vnd: int | None  # None: in kind, or set by the deciding officer
    quantity: int | None  # rice in kg or in-kind packages
    unit: str | None
    due_at: datetime
    rule_version: str
    base_level_vnd: int | None
    base_level_from: date | None
    confirmed: bool


@dataclass(frozen=True)
class RuleVersion:
    id: str
    effective_from: date
    source: str
    supports: dict[str, dict[str, Any]]


def _check_support(version_id: str, code: str, rule: dict[str, Any]) -> None:
    where = f"rule version {version_id}, support {code}"
    if code not in SUPPORT_TYPES:
        raise PolicyError(f"{where}: unknown support type")
    if rule.get("per") not in PER_UNITS:
        raise PolicyError(f"{where}: 'per' must be one of {PER_UNITS}")
    if sum(key in rule for key in AMOUNT_KEYS) != 1:
        raise PolicyError(f"{where}: exactly one amount key of {AMOUNT_KEYS} is needed")
    deadline = rule.get("deadline", {})
    if len(deadline) != 1 or next(iter(deadline)) not in ("days", "working_days"):
        raise PolicyError(f"{where}: deadline must be {{days = n}} or {{working_days = n}}")
    for alternative in rule.get("also", []):
        if not set(alternative) <= {*CONDITION_KEYS, "confirmed"} or not set(alternative) & set(CONDITION_KEYS):
            raise PolicyError(f"{where}: each 'also' names conditions of {CONDITION_KEYS} and may say 'confirmed'")


def _parse_versions(raw: Iterable[dict[str, Any]]) -> list[RuleVersion]:
    versions = []
    for item in raw:
        supports = item.get("support", {})
        versions.append(RuleVersion(item["id"], item["effective_from"], item.get("source", ""), supports))
    return sorted(versions, key=lambda v: v.effective_from)


def _parse_base_levels(raw: Iterable[dict[str, Any]]) -> list[BaseLevel]:
    levels = [BaseLevel(i["effective_from"], int(i["vnd"]), i.get("source", ""), bool(i.get("confirmed", False)))
              for i in raw]
    return sorted(levels, key=lambda b: b.effective_from)


def _latest(items: list[Any], day: date) -> Any | None:
    found = None
    for item in items:
        if item.effective_from <= day:
            found = item
    return found


@dataclass(frozen=True)
class ProvinceOverride:
    province: str
    versions: list[RuleVersion]
    base_levels: list[BaseLevel]


class Policy:
    """National rule versions, province overrides, base levels and the calendar."""

    def __init__(self, versions: list[RuleVersion], base_levels: list[BaseLevel],
                 calendar: HolidayCalendar, overrides: dict[str, ProvinceOverride] | None = None):
        if not versions or not base_levels:
            raise PolicyError("the rules need at least one version and one base level")
        self.versions = versions
        self.base_levels = base_levels
        self.calendar = calendar
        self.overrides = overrides or {}
        for version in versions:
            for code, rule in version.supports.items():
                _check_support(version.id, code, rule)
        for override in self.overrides.values():
            for version in override.versions:
                for day_version in versions:
                    self._merged(day_version, version)

    def base_level_on(self, day: date, province: str | None = None) -> BaseLevel:
        levels = self.base_levels
        if province in self.overrides:
            levels = sorted(levels + self.overrides[province].base_levels, key=lambda b: b.effective_from)
        level = _latest(levels, day)
        if level is None:
            raise PolicyError(f"no base level is in effect on {day}")
        return level

    def rules_on(self, day: date, province: str | None = None, version_id: str | None = None) -> RuleVersion:
        """The rule version in effect on `day` in `province` (or the named one, for what-ifs)."""
        if version_id is not None:
            return self._named(version_id, province)
        national = _latest(self.versions, day)
        if national is None:
            raise PolicyError(f"no rule version is in effect on {day}")
        override = self.overrides.get(province) if province else None
        local = _latest(override.versions, day) if override else None
        return self._merged(national, local) if local else national

    def _named(self, version_id: str, province: str | None) -> RuleVersion:
        national_id, _, local_id = version_id.partition("+")
        national = next((v for v in self.versions if v.id == national_id), None)
        if national is None:
            raise PolicyError(f"unknown rule version {version_id!r}")
        if not local_id:
            return national
        override = self.overrides.get(province or "")
        local = next((v for v in override.versions if v.id == local_id), None) if override else None
        if local is None:
            raise PolicyError(f"unknown province rule version {version_id!r}")
        return self._merged(national, local)

    @staticmethod
    def _merged(national: RuleVersion, local: RuleVersion) -> RuleVersion:
        supports = {code: dict(rule) for code, rule in national.supports.items()}
        for code, changes in local.supports.items():
            merged = dict(supports.get(code, {}))
            if any(key in changes for key in AMOUNT_KEYS):
                merged = {k: v for k, v in merged.items() if k not in AMOUNT_KEYS}
            merged.update(changes)
            _check_support(f"{national.id}+{local.id}", code, merged)
            supports[code] = merged
        return RuleVersion(f"{national.id}+{local.id}", max(national.effective_from, local.effective_from),
                           f"{national.source}; {local.source}", supports)

    def entitlements(self, need: Need, recorded_at: datetime, province: str,
                     version_id: str | None = None, base_level_on: date | None = None) -> list[ComputedEntitlement]:
        """Every support `need` qualifies for, as of `recorded_at` in `province`.

        `version_id` and `base_level_on` replace the rules in effect, for
        what-if recomputation; normal recording leaves them None.
        """
        day = recorded_at.astimezone(VIETNAM).date()
        rules = self.rules_on(day, province, version_id)
        base = self.base_level_on(base_level_on or day, province)
        found = []
        for code in SUPPORT_TYPES:
            rule = rules.supports.get(code)
            if rule is None:
                continue
            qualified = _qualification(rule, need)
            if qualified is None:
                continue
            units = need.units(rule["per"])
            if units <= 0:
                continue
            found.append(self._entitlement(code, rule, units, need, recorded_at, rules.id, base, qualified))
        return found

    def _entitlement(self, code: str, rule: dict[str, Any], units: int, need: Need, recorded_at: datetime,
                     version_id: str, base: BaseLevel, qualified_confirmed: bool) -> ComputedEntitlement:
        amount = quantity = unit = None
        uses_base = "base_multiple" in rule
        if "fixed_vnd" in rule:
            amount = int(rule["fixed_vnd"]) * units
        elif uses_base:
            amount = int(rule["base_multiple"]) * base.vnd * units
        elif "rice_kg_per_person_month" in rule:
            months = max(1, min(need.food_months, int(rule.get("max_months", 1))))
            quantity, unit = int(rule["rice_kg_per_person_month"]) * units * months, "kg rice"
        elif "in_kind" in rule:
            quantity, unit = units, str(rule["in_kind"])
        confirmed = (qualified_confirmed and bool(rule.get("deadline_confirmed", True))
                     and bool(rule.get("amount_confirmed", True)) and (base.confirmed or not uses_base))
        return ComputedEntitlement(
            support_type=code, units=units, amount_vnd=amount, quantity=quantity, unit=unit,
            due_at=self.calendar.due_at(recorded_at, rule["deadline"]), rule_version=version_id,
            base_level_vnd=base.vnd if uses_base else None,
            base_level_from=base.effective_from if uses_base else None, confirmed=confirmed)


def _qualification(rule: dict[str, Any], need: Need) -> bool | None:
    """None if `need` does not qualify; else whether the conditions it meets are
    confirmed: the support's own, or else the first of its `also` alternatives
    it meets (each a whole set of conditions, perhaps marked unconfirmed)."""
    if _qualifies(rule, need):
        return True
    for alternative in rule.get("also", []):
        if _qualifies(alternative, need):
            return bool(alternative.get("confirmed", True))
    return None


def _qualifies(rule: dict[str, Any], need: Need) -> bool:
    if "house_damage_in" in rule and need.house_damage not in rule["house_damage_in"]:
        return False
    if "flags_any" in rule and not need.flags.intersection(rule["flags_any"]):
        return False
    if "requires" in rule and not getattr(need, rule["requires"]):
        return False
    return "incident_types" not in rule or need.incident_type in rule["incident_types"]


def _read_toml(path: Path | None) -> dict[str, Any]:
    if path is None:
        text = resources.files("emergency.policy").joinpath("national.toml").read_text("utf-8")
        return tomllib.loads(text)
    with path.open("rb") as handle:
        return tomllib.load(handle)


def load_policy(override_files: Iterable[Path] = ()) -> Policy:
    """The national rules shipped with the package, plus province override files.

    An override file names its `province` and carries its own `[[version]]`
    tables (only the fields it raises) and optionally `[[base_level]]`.
    """
    national = _read_toml(None)
    holidays = frozenset(national.get("holidays", {}).get("dates", []))
    overrides = {}
    for path in override_files:
        data = _read_toml(path)
        province = str(data["province"])
        overrides[province] = ProvinceOverride(
            province, _parse_versions(data.get("version", [])), _parse_base_levels(data.get("base_level", [])))
    return Policy(_parse_versions(national["version"]), _parse_base_levels(national["base_level"]),
                  HolidayCalendar(holidays), overrides)
