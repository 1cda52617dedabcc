"""An independent, slow recomputation of coverage and the overdue list from
raw event envelopes, written from the domain rules (README, Projections)
rather than from the projection's code: it folds the events into plain
dicts with datetimes and judges every case at the moment asked about.

- "now" (as now known for X): every event recorded so far;
- "then" (as known on X): the log's prefix a reader saw at X, which stops
  at the first event recorded after X.
"""

from __future__ import annotations

from datetime import datetime
from statistics import median, quantiles
from typing import Any

from emergency.envelope import Envelope
from projections.coverage import GROUPINGS

RICE = "kg rice"


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text)


def known_at(envelopes: list[Envelope], at: datetime, known: str) -> list[Envelope]:
    if known == "now":
        return envelopes
    prefix = []
    for e in envelopes:
        if _t(e.recorded_at) > at:
            break
        prefix.append(e)
    return prefix


def _fold(envelopes: list[Envelope]) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], list[tuple]],
                                              dict[str, dict[str, Any]]]:
    households: dict[str, dict[str, Any]] = {}
    facts: dict[tuple[str, str], list[tuple]] = {}
    paid: dict[str, dict[str, Any]] = {}
    for e in envelopes:
        d, h = e.data, households.get(e.aggregate_id)
        if e.kind == "HouseholdCase.Registered":
            households[e.aggregate_id] = dict(incident_id=d["incident_id"], province_code=d["province_code"],
                                              commune_code=d["commune_code"], members=d["members"],
                                              head_name=d["head_name"], seen={})
        elif e.kind == "HouseholdCase.DetailsCorrected":
            h["members"] = d["changes"].get("members", h["members"])
            h["head_name"] = d["changes"].get("head_name", h["head_name"])
        elif e.kind == "HouseholdCase.DamageAssessed":
            h["seen"][d["assessment"]["assessment_id"]] = _t(d["assessment"]["assessed_at"])
        elif e.kind == "HouseholdCase.EntitlementDetermined":
            ent = d["entitlement"]
            facts.setdefault((e.aggregate_id, ent["support_type"]), []).append(
                ("determined", h["seen"][d["basis"]], _t(ent["due_at"]), ent["amount_vnd"], ent["quantity"],
                 ent["unit"]))
        elif e.kind == "HouseholdCase.EntitlementWithdrawn":
            facts[(e.aggregate_id, d["support_type"])].append(("withdrawn", h["seen"][d["basis"]]))
        elif e.kind == "HouseholdCase.Decided":
            x = d["decision"]
            facts[(e.aggregate_id, x["support_type"])].append(
                (x["decision"], _t(x["decided_at"]), x.get("amount_vnd"), x.get("quantity")))
        elif e.kind == "HouseholdCase.Disbursed":
            x = d["disbursement"]
            paid[x["disbursement_id"]] = dict(key=(e.aggregate_id, x["support_type"]), at=_t(x["delivered_at"]),
                                              id=x["disbursement_id"], vnd=x.get("amount_vnd") or 0,
                                              qty=x.get("quantity") or 0, void=False)
        elif e.kind == "HouseholdCase.DisbursementCorrected":
            x = d["correction"]
            p = paid[x["disbursement_id"]]
            p["void"] = p["void"] or x["void"]
            p["vnd"] = x["amount_vnd"] if x.get("amount_vnd") is not None else p["vnd"]
            p["qty"] = x["quantity"] if x.get("quantity") is not None else p["qty"]
        elif e.kind == "HouseholdCase.Absorbed":
            # A merge: the other's assessments and payments count for this household.
            for x in d["assessments"].values():
                h["seen"][x["assessment_id"]] = _t(x["assessed_at"])
            for x in d["disbursements"].values():
                paid[(e.aggregate_id, x["disbursement_id"])] = dict(
                    key=(e.aggregate_id, x["support_type"]), at=_t(x["delivered_at"]), id=x["disbursement_id"],
                    vnd=x.get("amount_vnd") or 0, qty=x.get("quantity") or 0, void=False, source=d["household_id"])
        elif e.kind == "HouseholdCase.Separated":
            for x in paid.values():
                if x["key"][0] == e.aggregate_id and x.get("source") == d["household_id"]:
                    x["void"] = True
    return households, facts, paid


def _owed(case_facts: list[tuple], at: datetime) -> dict[str, Any] | None:
    """The case as the facts in effect at `at` make it: each fact takes effect
    when it occurred, but never before the fact recorded before it."""
    case: dict[str, Any] | None = None
    effective = None
    for fact in case_facts:
        effective = fact[1] if effective is None else max(effective, fact[1])
        if effective > at:
            break
        kind = fact[0]
        if kind == "determined":
            since = case["since"] if case and case["status"] != "withdrawn" else fact[1]
            case = dict(since=since, due=fact[2], vnd=fact[3], qty=fact[4], unit=fact[5], status="pending",
                        decided=False)
        elif kind == "withdrawn":
            case["status"] = "withdrawn"
        else:
            case.update(status=kind, decided=True)
            if kind == "adjust":
                case.update(vnd=fact[2], qty=fact[3])
    return case


def judged(envelopes: list[Envelope], at: datetime, known: str = "now") -> list[dict[str, Any]]:
    """Every case counting at `at`, with its state then."""
    households, facts, paid = _fold(known_at(envelopes, at, known))
    deliveries: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in paid.values():
        if not p["void"]:
            deliveries.setdefault(p["key"], []).append(p)
    found = []
    for key, case_facts in facts.items():
        case = _owed(case_facts, at)
        if case is None or case["status"] == "withdrawn":
            continue
        h = households[key[0]]
        given = sorted((p for p in deliveries.get(key, []) if p["at"] <= at), key=lambda p: (p["at"], p["id"]))
        done = None
        if case["vnd"] is not None or case["qty"] is not None:
            vnd = qty = 0
            for p in given:
                vnd, qty = vnd + p["vnd"], qty + p["qty"]
                if vnd >= (case["vnd"] or 0) and qty >= (case["qty"] or 0):
                    done = p["at"]
                    break
        state = ("rejected" if case["status"] == "reject" else
                 ("on_time" if done <= case["due"] else "late") if done is not None else
                 "overdue" if case["due"] < at else "within")
        found.append(dict(case, household_id=key[0], support_type=key[1], household=h, done=done, state=state,
                          paid_vnd=sum(p["vnd"] for p in given), paid_qty=sum(p["qty"] for p in given)))
    return found


def recompute(envelopes: list[Envelope], at: datetime, by: str, known: str = "now") -> list[dict[str, Any]]:
    """Coverage rows as `projections.coverage.coverage` defines them."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for case in judged(envelopes, at, known):
        h = case["household"]
        where = dict(h, support_type=case["support_type"])
        g = groups.setdefault(tuple(where[f] for f in GROUPINGS[by]), dict(
            n=0, decided=0, rejected=0, on_time=0, late=0, overdue=0, within=0, vnd=0, paid_vnd=0, rice=0,
            paid_rice=0, homes={}, late_homes=set(), hours=[]))
        g["decided"] += case["decided"]
        if case["state"] == "rejected":
            g["rejected"] += 1
            continue
        g["n"] += 1
        g["homes"][case["household_id"]] = h["members"]
        if case["state"] in ("on_time", "late"):
            g[case["state"]] += 1
            g["hours"].append((case["done"] - case["since"]).total_seconds() / 3600)
        else:
            g[case["state"]] += 1
            if case["state"] == "overdue":
                g["late_homes"].add(case["household_id"])
        g["vnd"] += case["vnd"] or 0
        g["paid_vnd"] += case["paid_vnd"]
        if case["unit"] == RICE:
            g["rice"] += case["qty"] or 0
            g["paid_rice"] += case["paid_qty"]
    return [_row(by, key, groups[key]) for key in sorted(groups)]


def _row(by: str, key: tuple[str, ...], g: dict[str, Any]) -> dict[str, Any]:
    counted = g["on_time"] + g["late"] + g["overdue"]
    hours = sorted(g["hours"])
    return {
        **dict(zip(GROUPINGS[by], key)),
        "households_in_need": len(g["homes"]), "persons_in_need": sum(g["homes"].values()),
        "households_overdue": len(g["late_homes"]),
        "persons_overdue": sum(g["homes"][x] for x in g["late_homes"]),
        "entitlements": g["n"], "decided": g["decided"], "rejected": g["rejected"],
        "disbursed": g["on_time"] + g["late"], "disbursed_on_time": g["on_time"], "late": g["late"],
        "overdue": g["overdue"], "within_deadline": g["within"],
        "timely_pct": round(100 * g["on_time"] / counted, 2) if counted else None,
        "gap_to_target_pct": round(100 - 100 * g["on_time"] / counted, 2) if counted else None,
        "median_hours_to_delivery": round(median(hours), 2) if hours else None,
        "p90_hours_to_delivery": (round(hours[0] if len(hours) == 1 else
                                        quantiles(hours, n=10, method="inclusive")[-1], 2) if hours else None),
        "entitled_vnd": g["vnd"], "disbursed_vnd": g["paid_vnd"],
        "rice_entitled_kg": g["rice"], "rice_delivered_kg": g["paid_rice"],
    }


def overdue_keys(envelopes: list[Envelope], at: datetime, known: str = "now") -> list[tuple[str, str]]:
    """(household, support type) of every overdue case, oldest deadline first."""
    cases = [c for c in judged(envelopes, at, known) if c["state"] == "overdue"]
    return [(c["household_id"], c["support_type"]) for c in
            sorted(cases, key=lambda c: (c["due"], c["household_id"], c["support_type"]))]


def same(rows: list[dict[str, Any]], expected: list[dict[str, Any]], approx: Any) -> None:
    """Counts and money exactly; hours to the rounding's last digit."""
    def plain(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if "hours" not in k and not k.endswith("_name")} for r in found]
    assert plain(rows) == plain(expected)
    for got, want in zip(rows, expected):
        for name in ("median_hours_to_delivery", "p90_hours_to_delivery"):
            assert got[name] == approx(want[name], abs=0.011), (got, name)
