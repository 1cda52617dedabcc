"""Lag over HTTP: the coordinators' status route and the Prometheus text."""

from __future__ import annotations

import pytest

from emergency.service import AidService
from infra.settings import Settings
from tests.support.api import Api
from tests.support.factories import assess, open_incident, register
from tests.support.kafka import relay_to

pytestmark = pytest.mark.kafka


@pytest.fixture
def api_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    if getattr(request, "param", "with Kafka") == "without Kafka":
        return settings
    return settings.model_copy(update={"kafka_bootstrap": request.getfixturevalue("kafka_bootstrap"),
                                       "kafka_topic": request.getfixturevalue("topic")})


async def test_lag_is_served_to_coordinators(api: Api, service: AidService, api_settings: Settings):
    incident = open_incident(service)
    assess(service, register(service, incident))
    head = service.last_notification_id()
    with relay_to(service.app.recorder, api_settings.database_url, api_settings.kafka_bootstrap,
                  api_settings.kafka_topic, batch_size=2) as relay:
        relay.pump()

    reply = await api.get("/kafka/status", api.token("coordinator"))
    assert reply.status == 200, reply.body
    assert (reply.body["log_head"], reply.body["relay_position"], reply.body["relay_lag"]) == (head, 2, head - 2)
    assert reply.body["consumer_lag"] == 2 == sum(p["lag"] for p in reply.body["partitions"])

    metrics = await api.get("/kafka/metrics", api.token("admin"))
    assert metrics.status == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    assert f'emergency_relay_lag_events{{topic="{api_settings.kafka_topic}"}} {head - 2}' in metrics.body.decode()
    assert (await api.get("/kafka/status", api.token("field"))).status == 403
    assert (await api.get("/kafka/metrics")).status == 401


@pytest.mark.parametrize("api_settings", ["without Kafka"], indirect=True)
async def test_a_deployment_without_kafka_answers_not_found(api: Api):
    reply = await api.get("/kafka/status", api.token("admin"))
    assert (reply.status, reply.error) == (404, ("kafka_not_configured", "EMERGENCY_KAFKA_BOOTSTRAP"))
