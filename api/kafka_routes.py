"""The Kafka path's lag for coordinators and monitoring (`consumers.status`).

    GET /kafka/status     relay position against the log's head, per-partition consumer lag (JSON)
    GET /kafka/metrics    the same as Prometheus text

Read-only. A deployment without Kafka (no EMERGENCY_KAFKA_BOOTSTRAP) answers 404.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from api import keys
from api.auth import COORDINATORS
from api.models import Body
from api.routing import Call, Route, add_routes, respond
from consumers.status import KafkaStatus, collect
from emergency.errors import NotFound


class PartitionLagView(Body):
    partition: int
    end_offset: int
    next_offset: int
    lag: int


class KafkaStatusView(Body):
    topic: str
    log_head: int
    relay_position: int
    relay_lag: int
    consumer_lag: int
    partitions: list[PartitionLagView]


async def _status(call: Call) -> KafkaStatus:
    settings = call.request.app[keys.SETTINGS]
    if not settings.kafka_bootstrap:
        raise NotFound("this deployment runs without Kafka (EMERGENCY_KAFKA_BOOTSTRAP is not set)",
                       field="EMERGENCY_KAFKA_BOOTSTRAP", code="kafka_not_configured")
    head = await asyncio.to_thread(call.service.last_notification_id)
    return await asyncio.to_thread(collect, settings, head)


async def kafka_status(call: Call) -> web.Response:
    status = await _status(call)
    return respond(KafkaStatusView(
        topic=status.topic, log_head=status.log_head, relay_position=status.relay_position,
        relay_lag=status.relay_lag, consumer_lag=status.consumer_lag,
        partitions=[PartitionLagView(partition=p.partition, end_offset=p.end_offset, next_offset=p.next_offset,
                                     lag=p.lag) for p in status.partitions]))


async def kafka_metrics(call: Call) -> web.Response:
    status = await _status(call)
    return web.Response(text=status.metrics(), content_type="text/plain", charset="utf-8")


def setup(app: web.Application) -> None:
    add_routes(app, [
        Route("GET", "/kafka/status", "Relay lag against the event log and consumer lag per partition",
              kafka_status, KafkaStatusView, COORDINATORS, tag="operations"),
        Route("GET", "/kafka/metrics", "Relay and consumer lag in Prometheus text format",
              kafka_metrics, None, COORDINATORS, tag="operations", media_type="text/plain"),
    ])
