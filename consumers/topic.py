"""The event topic: its creation, and the one message format on it.

Each message is one recorded event: key = aggregate id (so all events of one
household land in one partition, in version order), value = the public
envelope (`emergency.envelope.Envelope.to_json()`), which carries the
aggregate id, version, notification id, type, timestamp and data.
"""

from __future__ import annotations

from functools import lru_cache

import orjson
import structlog
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from emergency.envelope import Envelope

log = structlog.get_logger(__name__)

# A topic's replicas live on distinct brokers; three is the usual ceiling.
MAX_REPLICATION = 3


def message_key(envelope: Envelope) -> bytes:
    return envelope.aggregate_id.encode()


@lru_cache(maxsize=1 << 16)  # an aggregate has many events: hash its key (in pure Python) once
def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as
    the Java client and kafka-python hash keys), so each aggregate stays in
    the partition it always had. Given with each send, it spares the client's
    partitioner listing the topic's available partitions for every message."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def decode(value: bytes) -> Envelope:
    return Envelope.from_dict(orjson.loads(value))


def ensure_topic(bootstrap: str, topic: str, partitions: int, retention_ms: int) -> int:
    """Create the topic if missing, or set its retention; return its
    partition count.

    An existing topic keeps its partitions: adding some would move aggregates
    to other partitions and break their per-partition order, so a differing
    count is reported, never applied.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="emergency-admin")
    try:
        brokers = len(admin.describe_cluster()["brokers"])
        try:
            admin.create_topics({topic: {
                "num_partitions": partitions, "replication_factor": min(brokers, MAX_REPLICATION),
                "configs": {"retention.ms": str(retention_ms)}}}, wait_for_metadata=True)
            log.info("kafka_topic_created", topic=topic, partitions=partitions, retention_ms=retention_ms)
            return partitions
        except TopicAlreadyExistsError:
            pass
        # Retention can change safely: set it on the existing topic too.
        admin.alter_configs([ConfigResource("TOPIC", topic, {"retention.ms": str(retention_ms)})])
        existing = len(admin.describe_topics([topic])[0]["partitions"])
        if existing != partitions:
            log.warning("kafka_topic_partitions_differ", topic=topic, existing=existing, configured=partitions)
        return existing
    finally:
        admin.close()
