"""What a request for help says (who, where, how to reach them) appears in
no public response: every route open without a token is asked, with every
id it takes pointing at a record that holds the request, and the public
page itself; only status, dates and counts come out."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.api import Api, Storm
from tests.support.factories import COMMUNES, PROVINCE

pytestmark = pytest.mark.asyncio

PHONE = "0913 579 246"
VILLAGE = "Xóm Cồn Đen"
DESCRIPTION = "Cụ Đặng Thị Lụa sống một mình, mái nhà bị tốc"


async def test_the_contents_of_a_request_are_in_no_public_response(api: Api, storm: Storm) -> None:
    filed = await api.post("/public/requests", None, {"commune_code": COMMUNES[0], "village": VILLAGE,
                                                      "phone": PHONE, "description": DESCRIPTION})
    assert filed.status == 201
    await api.created("/requests", api.token("field", PROVINCE), {
        "commune_code": COMMUNES[1], "village": VILLAGE, "phone": PHONE, "description": DESCRIPTION,
        "incident_id": storm.incident_id})
    ids = {"incident_id": storm.incident_id, "reference": filed.body["reference"],
           "campaign_id": storm.incident_id}
    document = (await api.get("/openapi.json")).body
    open_reads = [path for path, operations in document["paths"].items()
                  if "get" in operations and operations["get"]["security"] == []]
    assert "/public/request-counts" in open_reads and "/public/requests/{reference}" in open_reads
    answered = 0
    for path in [*open_reads, "/transparency", "/public/request-counts?known=then"]:
        reply = await api.get(re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path))
        text = reply.body.decode() if isinstance(reply.body, bytes) else json.dumps(reply.body, ensure_ascii=False)
        for secret in (PHONE, VILLAGE, DESCRIPTION, PHONE.replace(" ", "")):
            assert secret not in text, f"{path} shows {secret!r}"
        answered += reply.status == 200
    assert answered >= 6
    counted = (await api.get("/public/request-counts")).body
    assert sum(c["arrived"] for c in counted["communes"]) == 2
