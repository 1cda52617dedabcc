"""The entitlement rules against the amounts and deadlines of DOMAIN.md."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from emergency.clock import VIETNAM
from emergency.policy import Need, load_policy
from emergency.policy.rules import PolicyError

POLICY = load_policy()


def need(**changes: object) -> Need:
    base = dict(incident_type="storm", flags=frozenset(), house_damage="none", persons_short_of_food=0,
                food_months=1, injured=0, seriously_injured=0, dead=0, missing=0, orphaned_children=0,
                relocation_ordered=False, livelihood_lost=False)
    base.update(changes)
    return Need(**base)  # type: ignore[arg-type]


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=VIETNAM)


def by_type(entitlements):
    return {e.support_type: e for e in entitlements}


def test_burial_is_50_base_levels_per_dead_or_missing_person():
    found = by_type(POLICY.entitlements(need(dead=1, missing=1), at("2024-09-09"), "31"))
    assert found["BURIAL"].amount_vnd == 2 * 25_000_000  # 50 × 500,000 each
    assert found["BURIAL"].base_level_vnd == 500_000
    assert found["BURIAL"].units == 2


def test_base_level_follows_the_date_of_the_need():
    hurt = need(injured=1, seriously_injured=1)
    before = by_type(POLICY.entitlements(hurt, at("2024-06-30"), "31"))["INJURED"]
    after = by_type(POLICY.entitlements(hurt, at("2024-07-01"), "31"))["INJURED"]
    assert (before.amount_vnd, before.base_level_from) == (3_600_000, date(2021, 7, 1))
    assert (after.amount_vnd, after.base_level_from) == (5_000_000, date(2024, 7, 1))


def test_injured_support_is_10_base_levels_per_seriously_injured_person():
    found = by_type(POLICY.entitlements(need(injured=3, seriously_injured=2), at("2024-09-09"), "31"))
    assert (found["INJURED"].units, found["INJURED"].amount_vnd) == (2, 2 * 5_000_000)  # 10 × 500,000 each
    lightly = by_type(POLICY.entitlements(need(injured=2), at("2024-09-09"), "31"))
    assert "INJURED" not in lightly


def test_necessities_go_to_every_household_that_lost_its_shelter():
    def necessities(**changes: object):
        return by_type(POLICY.entitlements(need(**changes), at("2024-09-09"), "31")).get("NECESSITIES")

    for lost in (dict(house_damage="total"), dict(house_damage="very_heavy"),
                 dict(house_damage="partial", relocation_ordered=True)):
        found = necessities(**lost)
        assert found is not None and (found.quantity, found.unit, found.amount_vnd) == (1, "household package", None)
    assert necessities(house_damage="heavy") is None
    assert necessities(house_damage="none") is None


def test_necessities_for_a_standing_house_are_unconfirmed(tmp_path: Path):
    # With its deadline confirmed (a province's rules), only the conditions decide `confirmed`.
    override = tmp_path / "22.toml"
    override.write_text('province = "22"\n[[version]]\nid = "QN-2024"\neffective_from = 2024-08-01\n'
                        '[version.support.NECESSITIES]\ndeadline_confirmed = true\n')
    policy = load_policy([override])

    def confirmed(**changes: object) -> bool:
        return by_type(policy.entitlements(need(**changes), at("2024-09-09"), "22"))["NECESSITIES"].confirmed

    assert confirmed(house_damage="total") is True
    assert confirmed(house_damage="very_heavy") is False
    assert confirmed(relocation_ordered=True) is False


def test_unconfirmed_base_level_marks_the_entitlement_unconfirmed():
    burial = by_type(POLICY.entitlements(need(dead=1), at("2026-08-03"), "31"))["BURIAL"]
    assert burial.amount_vnd == 50 * 540_000
    assert burial.confirmed is False
    assert by_type(POLICY.entitlements(need(dead=1), at("2024-09-09"), "31"))["BURIAL"].confirmed is True


def test_housing_needs_poverty_condition_except_relocation():
    total = need(house_damage="total", relocation_ordered=True)
    assert set(by_type(POLICY.entitlements(total, at("2024-09-09"), "31"))) == {"NECESSITIES", "HOUSE_RELOCATE"}
    poor = by_type(POLICY.entitlements(need(house_damage="total", flags=frozenset({"near_poor"})),
                                       at("2024-09-09"), "31"))
    assert poor["HOUSE_REBUILD"].amount_vnd == 40_000_000
    repair = by_type(POLICY.entitlements(need(house_damage="very_heavy", flags=frozenset({"hardship"})),
                                         at("2024-09-09"), "31"))
    assert repair["HOUSE_REPAIR"].amount_vnd == 20_000_000
    relocate = by_type(POLICY.entitlements(need(relocation_ordered=True), at("2024-09-09"), "31"))
    assert relocate["HOUSE_RELOCATE"].amount_vnd == 30_000_000


def test_rice_is_15_kg_per_person_month_capped_at_three_months():
    food = by_type(POLICY.entitlements(need(persons_short_of_food=4, food_months=3), at("2024-09-09"), "31"))
    assert (food["FOOD_DISASTER"].quantity, food["FOOD_DISASTER"].unit) == (180, "kg rice")
    tet = by_type(POLICY.entitlements(need(incident_type="tet_shortage", persons_short_of_food=4, food_months=3),
                                      at("2025-01-20"), "31"))
    assert set(tet) == {"FOOD_TET"} and tet["FOOD_TET"].quantity == 60


def test_amount_left_to_the_decision_is_none_and_unconfirmed():
    child = by_type(POLICY.entitlements(need(orphaned_children=2), at("2024-09-09"), "31"))["CHILD"]
    assert child.amount_vnd is None and child.quantity is None and child.confirmed is False


def test_calendar_day_deadline():
    food = by_type(POLICY.entitlements(need(persons_short_of_food=1), at("2024-09-09", 10), "31"))
    assert food["FOOD_DISASTER"].due_at == at("2024-09-11", 10)


def test_working_day_deadline_skips_weekends_and_holidays():
    # Friday 30 Aug 2024: 2 and 3 Sep are public holidays, 31 Aug and 1 Sep a weekend.
    burial = by_type(POLICY.entitlements(need(dead=1), at("2024-08-30", 18), "31"))["BURIAL"]
    assert burial.due_at == at("2024-09-06", 18)  # Wed 4, Thu 5, Fri 6


def test_province_override_raises_amounts_and_names_its_version(tmp_path: Path):
    override = tmp_path / "31.toml"
    override.write_text(
        'province = "31"\n[[version]]\nid = "HP-2024"\neffective_from = 2024-08-01\nsource = "UBND HP"\n'
        '[version.support.HOUSE_REBUILD]\nfixed_vnd = 60000000\n')
    policy = load_policy([override])
    poor_total = need(house_damage="total", flags=frozenset({"poor"}))
    local = by_type(policy.entitlements(poor_total, at("2024-09-09"), "31"))["HOUSE_REBUILD"]
    elsewhere = by_type(policy.entitlements(poor_total, at("2024-09-09"), "22"))["HOUSE_REBUILD"]
    earlier = by_type(policy.entitlements(poor_total, at("2024-07-15"), "31"))["HOUSE_REBUILD"]
    assert (local.amount_vnd, local.rule_version) == (60_000_000, "ND20-2021+HP-2024")
    assert (elsewhere.amount_vnd, elsewhere.rule_version) == (40_000_000, "ND20-2021")
    assert earlier.amount_vnd == 40_000_000


def test_what_if_under_another_base_level():
    real = by_type(POLICY.entitlements(need(dead=1), at("2024-09-09"), "31"))["BURIAL"]
    what_if = by_type(POLICY.entitlements(need(dead=1), at("2024-09-09"), "31",
                                          base_level_on=date(2021, 7, 1)))["BURIAL"]
    assert (real.amount_vnd, what_if.amount_vnd) == (25_000_000, 18_000_000)


def test_inconsistent_rule_data_is_refused(tmp_path: Path):
    override = tmp_path / "bad.toml"
    override.write_text('province = "31"\n[[version]]\nid = "X"\neffective_from = 2024-08-01\n'
                        '[version.support.HOUSE_REBUILD]\nfixed_vnd = 1\nbase_multiple = 2\n')
    with pytest.raises(PolicyError, match="exactly one amount"):
        load_policy([override])
    override.write_text('province = "31"\n[[version]]\nid = "X"\neffective_from = 2024-08-01\n'
                        '[[version.support.NECESSITIES.also]]\nconfirmed = false\n')
    with pytest.raises(PolicyError, match="'also' names conditions"):
        load_policy([override])


def test_no_rules_before_the_first_version():
    with pytest.raises(PolicyError):
        POLICY.entitlements(need(dead=1), datetime(2020, 1, 1, tzinfo=timezone.utc), "31")
