"""How far behind the Kafka path is: the relay against the log's head, and
the consumers against each partition's end (end offset minus the offset
stored with the rows). For `emergency kafka-status` and the API's metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from consumers.kafka_feed import ensure_tables, stored_offsets
from consumers.relay_position import open_relay_position
from infra.settings import Settings
from infra.stores import open_application
from projections.store import open_view_store


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    end_offset: int
    next_offset: int

    @property
    def lag(self) -> int:
        return max(0, self.end_offset - self.next_offset)


@dataclass(frozen=True)
class KafkaStatus:
    topic: str
    log_head: int
    relay_position: int
    partitions: tuple[PartitionLag, ...]

    @property
    def relay_lag(self) -> int:
        return max(0, self.log_head - self.relay_position)

    @property
    def consumer_lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    def lines(self) -> list[str]:
        """Human-readable, one line for the relay and one for the consumers."""
        detail = ", ".join(f"p{p.partition} {p.lag}" for p in self.partitions) or "topic missing"
        return [f"relay: position {self.relay_position} of log head {self.log_head} "
                f"(lag {self.relay_lag} events) -> topic {self.topic}",
                f"consumers: lag {self.consumer_lag} messages ({detail})"]

    def metrics(self) -> str:
        """Prometheus text exposition format."""
        topic = f'topic="{self.topic}"'
        out = [
            "# HELP emergency_log_head Last notification id in the event store.",
            "# TYPE emergency_log_head gauge", f"emergency_log_head {self.log_head}",
            "# HELP emergency_relay_lag_events Events recorded but not yet acknowledged by Kafka.",
            "# TYPE emergency_relay_lag_events gauge", f"emergency_relay_lag_events{{{topic}}} {self.relay_lag}",
            "# HELP emergency_consumer_lag_messages Messages in Kafka not yet applied to the view store.",
            "# TYPE emergency_consumer_lag_messages gauge",
        ]
        out += [f'emergency_consumer_lag_messages{{{topic},partition="{p.partition}"}} {p.lag}'
                for p in self.partitions]
        return "\n".join(out) + "\n"


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's end offset; empty if the topic does not exist."""
    client = KafkaConsumer(bootstrap_servers=bootstrap, client_id="emergency-status",
                           allow_auto_create_topics=False)
    try:
        partitions = client.partitions_for_topic(topic) or set()
        ends = client.end_offsets([TopicPartition(topic, p) for p in partitions]) if partitions else {}
    finally:
        client.close()
    return {tp.partition: int(offset) for tp, offset in ends.items()}


def log_head(settings: Settings) -> int:
    app = open_application(settings)
    try:
        return app.recorder.max_notification_id() or 0
    finally:
        app.close()


def collect(settings: Settings, head: int | None = None) -> KafkaStatus:
    """The status now; `head` (the log's last notification id) saves opening
    the event store when the caller already has it open."""
    topic = settings.kafka_topic
    head = log_head(settings) if head is None else head
    position = open_relay_position(settings.database_url)
    views = open_view_store(settings.views_url())
    try:
        relayed = position.load(topic)
        ensure_tables(views)
        stored = stored_offsets(views, topic)
    finally:
        views.close()
        position.close()
    ends = end_offsets(settings.kafka_bootstrap, topic)
    partitions = tuple(PartitionLag(p, ends[p], stored.get(p, 0)) for p in sorted(ends))
    return KafkaStatus(topic=topic, log_head=head, relay_position=relayed, partitions=partitions)
