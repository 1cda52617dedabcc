"""The exports over authenticated HTTP: streamed, the same bytes as the CLI's, refused to the wrong callers."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone
from pathlib import Path

import pytest

from emergency import clock
from emergency.scenario import ScenarioConfig, run_scenario
from emergency.service import AidService
from infra.cli import main
from infra.settings import Settings
from tests.audit.funding import record_campaign
from tests.support.api import Api

AT = datetime(2024, 9, 8, 22, 0, tzinfo=timezone.utc)


@pytest.fixture
def incident_id(service: AidService) -> str:
    with clock.frozen_at(AT):
        report = run_scenario(service, ScenarioConfig(households=60, provinces=2, until=AT, seed=3))
    return str(report.incident_id)


def cli_export(settings: Settings, tmp_path: Path, kind: str, *extra: str) -> bytes:
    out = tmp_path / f"{kind}.cli"
    assert main(["--database-url", settings.database_url, "export", kind, "--output", str(out), *extra]) == 0
    return out.read_bytes()


async def test_http_exports_stream_what_the_cli_writes(incident_id: str, api: Api, service: AidService,
                                                       settings: Settings, tmp_path: Path):
    auditor = api.token("auditor")
    at = AT.isoformat().replace("+", "%2B")
    for path, kind, extra in (
            (f"/exports/incidents/{incident_id}/communes.csv", "hxl-communes", ("--incident", incident_id)),
            (f"/exports/incidents/{incident_id}/sendai.csv", "sendai", ("--incident", incident_id)),
            ("/exports/incidents.csv", "hxl-incidents", ())):
        reply = await api.get(f"{path}?at={at}", auditor)
        assert reply.status == 200, reply.body
        assert reply.headers["Content-Type"].startswith("text/csv")
        assert "Content-Length" not in reply.headers  # streamed, not buffered
        assert reply.body == cli_export(settings, tmp_path, kind, "--at", AT.isoformat(), *extra)
    rows = list(csv.reader(io.StringIO(reply.body.decode())))
    assert rows[1][0] == "#event+id" and rows[2][0] == incident_id

    campaign_id = record_campaign(service).campaign_id
    iati = await api.get(f"/exports/campaigns/{campaign_id}/iati.xml?at={at}", api.token("coordinator"))
    assert iati.status == 200 and iati.headers["Content-Type"].startswith("application/xml")
    assert iati.body == cli_export(settings, tmp_path, "iati", "--campaign", campaign_id, "--at", AT.isoformat())

    log = await api.get("/exports/events.jsonl", auditor)
    assert log.status == 200 and log.headers["Content-Type"] == "application/x-ndjson"
    assert log.body == cli_export(settings, tmp_path, "events")


async def test_http_exports_refuse_the_wrong_callers(incident_id: str, api: Api):
    path = f"/exports/incidents/{incident_id}/communes.csv"
    assert (await api.get(path)).status == 401
    assert (await api.get(path, api.token("field"))).error == ("forbidden_role", "Authorization")
    assert (await api.get(path, api.token("coordinator", "31"))).error == ("out_of_scope", "Authorization")
    assert (await api.get(path, api.token("coordinator"))).status == 200
    assert (await api.get("/exports/events.jsonl", api.token("coordinator"))).status == 403
    missing = await api.get("/exports/incidents/00000000-0000-4000-8000-00000000dead/sendai.csv", api.token("admin"))
    assert (missing.status, missing.error) == (404, ("not_found", "incident_id"))
    naive = await api.get(f"{path}?at=2024-09-08T22:00:00", api.token("auditor"))
    assert naive.status == 422
