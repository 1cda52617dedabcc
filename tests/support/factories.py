"""Small builders for valid commands, so each test states only what matters to it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

from emergency import commands
from emergency.service import AidService

# A fixed moment shortly after a typhoon: tests run on a simulated clock.
STORM_START = datetime(2024, 9, 7, 1, 0, tzinfo=timezone.utc)

PROVINCE = "31"
COMMUNES = ["11311", "11455"]  # Phường Hồng Bàng, Phường Đồ Sơn (Hải Phòng)
QUANG_NINH = "06688"  # Phường Hạ Long, the incident's commune in Quảng Ninh (22)
OTHER_COMMUNE = "11914"  # Đặc khu Cát Hải: in Hải Phòng, not in the incident


def open_incident(service: AidService, **changes: Any) -> UUID:
    fields: dict[str, Any] = dict(incident_type="storm", title="Bão Yagi", started_at=STORM_START,
                                  areas=[{"province_code": PROVINCE, "commune_codes": COMMUNES},
                                         {"province_code": "22", "commune_codes": [QUANG_NINH]}])
    fields.update(changes)
    return UUID(service.execute(commands.OpenIncident(**fields)).result["incident_id"])


def register(service: AidService, incident_id: UUID, **changes: Any) -> UUID:
    # A name of its own (from its id): namesakes of about one size in one
    # commune are possible duplicates, whose payments wait for a coordinator.
    household_id = changes.pop("household_id", None) or uuid4()
    fields: dict[str, Any] = dict(household_id=household_id, incident_id=incident_id, commune_code=COMMUNES[0],
                                  head_name=f"Nguyễn Văn An {str(household_id)[:8]}", members=4, flags=["poor"])
    fields.update(changes)
    return UUID(service.execute(commands.RegisterHousehold(**fields)).result["household_id"])


def assess(service: AidService, household_id: UUID, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(household_id=household_id, assessed_at=STORM_START + timedelta(hours=20),
                                  dead=1, injured=1, house_damage="total", persons_short_of_food=4, food_months=1)
    fields.update(changes)
    # The injured are seriously injured unless a test says otherwise.
    fields.setdefault("seriously_injured", fields["injured"])
    return service.execute(commands.AssessDamage(**fields)).result


def disburse(service: AidService, household_id: UUID, support_type: str, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(household_id=household_id, support_type=support_type, form="cash",
                                  channel="cash_in_hand", funding_source="state_budget",
                                  delivered_at=STORM_START + timedelta(hours=30), delivered_by="cán bộ xã")
    fields.update(changes)
    return service.execute(commands.RecordDisbursement(**fields)).result
