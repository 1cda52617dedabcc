"""Entitlement rules as versioned data.

`national.toml` holds the national minimums; a province may raise them in an
override file. `load_policy()` reads both; `Policy.entitlements()` turns one
assessed need into the supports a household is owed, each stamped with the
rule version, base level and deadline it used.
"""

from emergency.policy.calendar import HolidayCalendar
from emergency.policy.rules import (
    SUPPORT_TYPES,
    BaseLevel,
    ComputedEntitlement,
    Need,
    Policy,
    load_policy,
)

__all__ = [
    "SUPPORT_TYPES",
    "BaseLevel",
    "ComputedEntitlement",
    "HolidayCalendar",
    "Need",
    "Policy",
    "load_policy",
]
