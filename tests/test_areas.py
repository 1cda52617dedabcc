"""The official areas: the list shipped by `vietnam-provinces`, the checks new
declarations pass against it, a newer list replacing it, and records whose
codes the list no longer has, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest

from api.models import HouseholdView
from emergency import areas, commands
from emergency.areas import AreaRegistry, Commune
from emergency.errors import InvalidInput
from emergency.scenario import YAGI_PROVINCES, ScenarioConfig, run_scenario, scenario_areas
from emergency.service import AidService
from infra.cli.views import catch_up
from infra.settings import Settings
from infra.stores import build_service
from projections.catalog import open_views
from projections.exports import hxl_communes
from tests.support.factories import STORM_START, assess, open_incident, register


@pytest.fixture
def areas_in_use() -> Iterator[None]:
    """Whatever list a test makes the process use, the official one comes back after it."""
    yield
    areas.use(areas.official())


def test_the_official_list_after_july_2025():
    official = areas.official()
    assert len(official.provinces) == 34 and len(official.communes) == 3321
    kinds = Counter(commune.name.split(" ")[0] if not commune.name.startswith("Đặc khu") else "Đặc khu"
                    for commune in official.communes.values())
    assert kinds == {"Xã": 2621, "Phường": 687, "Đặc khu": 13}
    # Decision 19/2025/QĐ-TTg's codes: provinces 2 digits, communes 5, zero-padded.
    assert (areas.province_name("01"), areas.province_name("96")) == ("Thành phố Hà Nội", "Cà Mau")
    assert areas.commune_name("00004") == "Phường Ba Đình" and official.communes["00004"].province_code == "01"
    assert areas.province_name("1") is None and areas.commune_name("4") is None
    assert sum(len(official.communes_of(p)) for p in official.provinces) == 3321


def test_new_declarations_are_checked_against_the_list(service: AidService):
    def refused(areas_given: list[dict[str, object]], field: str, code: str) -> None:
        with pytest.raises(InvalidInput) as caught:
            service.execute(commands.OpenIncident(incident_type="storm", title="x", started_at=STORM_START,
                                           areas=areas_given))
        assert (caught.value.field, caught.value.code) == (field, code)

    refused([{"province_code": "15", "commune_codes": ["02998", "02999"]}], "areas.0.commune_codes.1",
            "unknown_commune")
    refused([{"province_code": "15", "commune_codes": ["06688"]}], "areas.0.commune_codes.0",
            "commune_not_in_province")
    assert service.last_notification_id() == 0
    incident = open_incident(service, areas=[{"province_code": "15", "commune_codes": ["02998"]}])
    with pytest.raises(InvalidInput) as caught:
        register(service, incident, commune_code="02947")  # Xã Bảo Yên: real, but not among the incident's
    assert (caught.value.field, caught.value.code) == ("commune_code", "commune_not_in_incident")


def test_a_newer_list_replaces_the_communes(settings: Settings, tmp_path: Path, areas_in_use: None):
    newer = tmp_path / "communes.csv"
    newer.write_text("code,name,province\n02998,Xã Phúc Khánh,15\n99998,Xã Mới Lập,15\n", encoding="utf-8")
    service = build_service(settings.model_copy(update={"commune_list": newer}))
    try:
        incident = open_incident(service, areas=[{"province_code": "15", "commune_codes": ["02998", "99998"]}])
        assert areas.commune_name("99998") == "Xã Mới Lập"
        with pytest.raises(InvalidInput) as caught:
            service.execute(commands.ExtendIncidentAreas(incident_id=incident, areas=[
                {"province_code": "15", "commune_codes": ["02947"]}]))  # not on the newer list
        assert caught.value.code == "unknown_commune"
    finally:
        service.app.close()


def test_a_record_whose_code_the_list_no_longer_has_stays_readable(service: AidService, settings: Settings):
    # Recorded when the list in use had commune 04249 (the list of a deployment, say, before July 2025).
    earlier = AreaRegistry(areas.official().provinces, {"04249": Commune("04249", "Phường Minh Tân", "15")})
    then = AidService(service.app, service.policy, earlier)
    incident = open_incident(then, areas=[{"province_code": "15", "commune_codes": ["04249"]}])
    household = register(then, incident, commune_code="04249")
    assess(then, household, assessed_at=STORM_START + timedelta(hours=3))

    # Read today, with the official list: the code stays as recorded, without a name.
    assert areas.commune_name("04249") is None
    read = HouseholdView.model_validate(service.household(household)).model_dump()
    assert (read["commune_code"], read["commune_name"], read["province_name"]) == ("04249", None, "Lào Cai")
    views = open_views(settings)
    catch_up(service, views, "projecting")
    lines = list(hxl_communes(views.store, str(incident), STORM_START + timedelta(hours=4)))
    views.store.close()
    assert lines[2].split(",")[1:5] == ["15", "Lào Cai", "04249", ""]
    # and the household's case goes on: a payment is recorded against it.
    paid = commands.RecordDisbursement(household_id=household, support_type="BURIAL", form="cash", amount_vnd=1_000_000,
                                channel="cash_in_hand", funding_source="state_budget",
                                delivered_at=STORM_START + timedelta(hours=5), delivered_by="cán bộ xã")
    assert service.execute(paid).result["household_id"] == str(household)


def test_the_scenario_can_spread_over_every_province_and_commune(service: AidService):
    every = scenario_areas(34, 200)
    assert list(every)[:len(YAGI_PROVINCES)] == list(YAGI_PROVINCES)
    assert sum(len(codes) for codes in every.values()) == 3321
    assert all(areas.official().communes[code].province_code == p for p, codes in every.items() for code in codes)
    report = run_scenario(service, ScenarioConfig(households=100, provinces=34, communes_per_province=200,
                                                  until=STORM_START + timedelta(days=5), started_at=STORM_START))
    assert report.refused == {}
    incident = service.incident(report.incident_id)
    assert sum(len(codes) for codes in incident["areas"].values()) == 3321
