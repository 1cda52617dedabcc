"""The contribution rules of Decree 93/2021 as versioned data (`policy/funding.toml`).

Which purposes money may be designated for, which household supports serve
each purpose, which of them non-earmarked money may pay for, and how long a
campaign may receive and distribute. Nothing of this is a literal in code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from typing import Any

from emergency.errors import InvalidInput
from emergency.policy import SUPPORT_TYPES
from emergency.policy.rules import PolicyError


@dataclass(frozen=True)
class Purpose:
    code: str
    unearmarked: bool
    support_types: frozenset[str]
    confirmed: bool


@dataclass(frozen=True)
class FundingRules:
    id: str
    effective_from: date
    source: str
    receiving_max: timedelta
    distribution_max_after: timedelta
    purposes: dict[str, Purpose]

    def purposes_of(self, support_type: str) -> list[str]:
        """The purposes a household support serves, in file order."""
        return [p.code for p in self.purposes.values() if support_type in p.support_types]

    def unearmarked_may_fund(self, support_type: str) -> bool:
        return any(self.purposes[p].unearmarked for p in self.purposes_of(support_type))

    def check_purpose(self, code: str, field: str) -> None:
        if code not in self.purposes:
            raise InvalidInput(f"unknown purpose {code!r}; known: {', '.join(self.purposes)}", field=field,
                               code="unknown_purpose")


def _parse(item: dict[str, Any]) -> FundingRules:
    purposes = {}
    for code, raw in item.get("purpose", {}).items():
        unknown = set(raw.get("support_types", [])) - set(SUPPORT_TYPES)
        if unknown:
            raise PolicyError(f"funding rules {item['id']}, purpose {code}: unknown support types {sorted(unknown)}")
        purposes[code] = Purpose(code, bool(raw["unearmarked"]), frozenset(raw.get("support_types", [])),
                                 bool(raw.get("confirmed", True)))
    return FundingRules(
        id=item["id"], effective_from=item["effective_from"], source=item.get("source", ""),
        receiving_max=timedelta(days=int(item["receiving_max_days"])),
        distribution_max_after=timedelta(days=int(item["distribution_max_days_after_receiving"])),
        purposes=purposes)


class FundingPolicy:
    def __init__(self, versions: list[FundingRules]):
        if not versions:
            raise PolicyError("no funding rule version")
        self.versions = sorted(versions, key=lambda v: v.effective_from)

    def on(self, day: date) -> FundingRules:
        """The version in force on `day` (the earliest one for older days)."""
        found = self.versions[0]
        for version in self.versions:
            if version.effective_from <= day:
                found = version
        return found

    def named(self, version_id: str) -> FundingRules:
        for version in self.versions:
            if version.id == version_id:
                return version
        raise PolicyError(f"unknown funding rule version {version_id!r}")


def load_funding_policy() -> FundingPolicy:
    text = resources.files("emergency.policy").joinpath("funding.toml").read_text("utf-8")
    return FundingPolicy([_parse(item) for item in tomllib.loads(text)["version"]])
