"""Valid request bodies, so each test states only what it changes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.support.factories import COMMUNES, PROVINCE, QUANG_NINH, STORM_START

# The incident opens over these communes but the last of Quảng Ninh (22),
# which a test adds later: Phường Hạ Long, Phường Bãi Cháy.
AREAS = {PROVINCE: COMMUNES, "22": [QUANG_NINH, "06673"]}
LATER_COMMUNE = "06673"
BURIAL_VND = 25_000_000  # 50 x the 500,000 VND base level of 2024-07-01


def at(hours: float) -> str:
    """A time `hours` after the storm started (the clock stands at 48 h)."""
    return (STORM_START + timedelta(hours=hours)).isoformat()


def incident(**changes: Any) -> dict[str, Any]:
    areas = [{"province_code": p, "commune_codes": [c for c in codes if c != LATER_COMMUNE]}
             for p, codes in AREAS.items()]
    return {"incident_type": "storm", "title": "Bão Yagi", "started_at": at(0), "areas": areas, **changes}


def household(incident_id: str, **changes: Any) -> dict[str, Any]:
    return {"incident_id": incident_id, "commune_code": COMMUNES[0], "head_name": "Nguyễn Văn An", "members": 4,
            "flags": ["poor"], **changes}


def assessment(**changes: Any) -> dict[str, Any]:
    """One dead, one seriously injured, the house destroyed, everyone short of food."""
    return {"assessed_at": at(20), "dead": 1, "injured": 1, "seriously_injured": 1, "house_damage": "total",
            "persons_short_of_food": 4, "food_months": 1, **changes}


def decision(**changes: Any) -> dict[str, Any]:
    return {"support_type": "BURIAL", "decision": "approve", "decided_by": "Chủ tịch UBND xã",
            "decided_at": at(26), **changes}


def disbursement(**changes: Any) -> dict[str, Any]:
    return {"support_type": "BURIAL", "form": "cash", "amount_vnd": BURIAL_VND, "channel": "cash_in_hand",
            "funding_source": "state_budget", "delivered_at": at(30), "delivered_by": "cán bộ xã", **changes}
