"""What the field app reads from the server: its session (the team's
incidents and communes within the token's scope, and the commands' schemas)
and its files, the shell its service worker caches."""

from __future__ import annotations

import json
import re

from emergency import areas, clock
from emergency.domain.help_request import REQUEST_KINDS
from tests.support.api import Api, Storm
from tests.support.factories import COMMUNES, PROVINCE


def communes(session: dict) -> list[tuple[str, str]]:
    [incident] = session["incidents"]
    return [(c["province_code"], c["commune_code"]) for c in incident["communes"]]


async def test_a_team_sees_its_incidents_and_the_communes_of_its_scope(api: Api, storm: Storm):
    reply = await api.get("/field/session", api.token("field", PROVINCE, name="Đội xã Hải An"))
    assert reply.status == 200, reply.body
    session = reply.body
    assert (session["name"], session["role"], session["scope"]) == ("Đội xã Hải An", "field", [PROVINCE])
    [incident] = session["incidents"]
    assert (incident["incident_id"], incident["title"]) == (storm.incident_id, "Bão Yagi")
    assert communes(session) == [(PROVINCE, code) for code in COMMUNES]  # not province 22's
    names = (await api.get("/public/provinces")).body["provinces"]
    assert {c["province_name"] for c in incident["communes"]} == {names[PROVINCE]}
    assert [c["commune_name"] for c in incident["communes"]] == [areas.commune_name(code) for code in COMMUNES]
    assert all(c["commune_name"] for c in incident["communes"])  # official names
    assert session["server_time"].startswith(clock.now().isoformat()[:19])
    # The app checks its forms against the very models the server validates with.
    assert set(session["schemas"]) == {"register_household", "assess_damage", "record_disbursement",
                                       "confirm_receipt", "file_request"}
    assert session["schemas"]["file_request"]["properties"]["kind"]["enum"] == list(REQUEST_KINDS)
    assess = session["schemas"]["assess_damage"]
    assert assess["properties"]["food_months"]["maximum"] == 3
    assert "assessed_at" in assess["required"]
    assert session["schemas"]["register_household"]["properties"]["commune_code"]["pattern"] == r"^\d{5}$"


async def test_the_scope_narrows_what_a_session_lists(api: Api, storm: Storm):
    one = (await api.get("/field/session", api.token("field", COMMUNES[1]))).body
    assert communes(one) == [(PROVINCE, COMMUNES[1])]
    elsewhere = (await api.get("/field/session", api.token("field", "01"))).body
    assert elsewhere["incidents"] == []
    everywhere = (await api.get("/field/session", storm.coordinator)).body
    declared = (await api.get(f"/incidents/{storm.incident_id}", storm.coordinator)).body["areas"]
    assert communes(everywhere) == sorted((p, code) for p, codes in declared.items() for code in codes)  # by code


async def test_only_teams_that_record_may_open_a_session(api: Api, storm: Storm):
    for role in ("auditor", "donor"):
        reply = await api.get("/field/session", api.token(role))
        assert (reply.status, reply.error) == (403, ("forbidden_role", "Authorization"))
    assert (await api.get("/field/session")).status == 401
    document = (await api.get("/openapi.json")).body
    answer = document["paths"]["/field/session"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].endswith("/FieldSession")
    assert "commune_name" in document["components"]["schemas"]["FieldCommune"]["properties"]


async def test_the_app_and_every_file_of_its_shell_are_served(api: Api):
    moved = await api.call("GET", "/field", headers={"Accept": "text/html"})
    assert moved.status == 200 and b'src="/static/js/field/app.js"' in moved.body  # followed to /field/
    page = await api.get("/field/")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    worker = await api.get("/field/sw.js")
    assert worker.headers["Content-Type"].startswith("text/javascript")
    shell = json.loads(re.search(rb"const SHELL = (\{.*?\});", worker.body).group(1))
    assert re.fullmatch(r"[0-9a-f]{16}", shell["version"])
    assert {"/field/", "/static/js/field/app.js", "/static/js/field/sync.js", "/static/js/i18n.js"} <= set(
        shell["files"])
    # The worker caches all of it at once, or nothing: every file must be there.
    for url in shell["files"]:
        assert (await api.get(url)).status == 200, url
    manifest = await api.get("/field/manifest.webmanifest")
    assert manifest.headers["Content-Type"] == "application/manifest+json"
    described = json.loads(manifest.body)
    assert (described["start_url"], described["scope"], described["display"]) == ("/field/", "/field/", "standalone")
    assert {icon["src"] for icon in described["icons"]} <= set(shell["files"])
