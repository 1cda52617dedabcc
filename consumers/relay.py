"""The relay: tails the event store's notification log and publishes every
event to the Kafka topic, keyed by aggregate id.

Each page of the log is sent, flushed, and every send confirmed by the broker
(acks=all, idempotent producer) before the page's last notification id is
stored as the relay's position. A relay killed in between re-sends that page
when it restarts: at-least-once, never a loss. Consumers drop the duplicates.
"""

from __future__ import annotations

import threading
from typing import Callable

import structlog
from kafka import KafkaProducer
from kafka.errors import KafkaError

from consumers.relay_position import RelayPosition
from consumers.topic import message_key, partition_of
from emergency.envelope import from_notification
from projections.runner import NotificationSource

log = structlog.get_logger(__name__)

BATCH_BYTES = 256 * 1024  # per partition; below the broker's default 1 MiB message limit


def connect_producer(bootstrap: str, delivery_timeout_ms: int = 120_000) -> KafkaProducer:
    # Idempotence keeps each partition in send order through retries; acks=all
    # means an acknowledged event is on every in-sync replica. Each page ends
    # in a flush, so lingering costs no latency: it lets the sender thread
    # wait for full batches (a page's share of a partition fits one) rather
    # than wake and send a request per 16 KiB.
    return KafkaProducer(bootstrap_servers=bootstrap, client_id="emergency-relay", acks="all",
                         enable_idempotence=True, batch_size=BATCH_BYTES, linger_ms=50,
                         delivery_timeout_ms=delivery_timeout_ms)


class Relay:
    def __init__(self, source: NotificationSource, position: RelayPosition, topic: str,
                 connect: Callable[[], KafkaProducer], batch_size: int = 1000, send_timeout: float = 180.0):
        self.source = source
        self.position = position
        self.topic = topic
        self.connect = connect
        self.batch_size = batch_size
        self.send_timeout = send_timeout
        self.producer: KafkaProducer | None = None
        self.reached = position.load(topic)

    def pump(self) -> int:
        """Publish one page of the log after the stored position; return how
        many events it held (0: the topic has caught up with the log)."""
        notifications = self.source.select_notifications(start=self.reached, limit=self.batch_size,
                                                         inclusive_of_start=False)
        if not notifications:
            return 0
        if self.producer is None:
            self.producer = self.connect()
        partitions = len(self.producer.partitions_for(self.topic))
        futures = []
        for notification in notifications:
            envelope = from_notification(notification)
            key = message_key(envelope)
            futures.append(self.producer.send(self.topic, key=key, value=envelope.to_json(),
                                              partition=partition_of(key, partitions)))
        self.producer.flush(timeout=self.send_timeout)
        for future in futures:
            future.get(timeout=self.send_timeout)  # raises if the broker refused or never confirmed it
        last = notifications[-1].id
        self.position.save(self.topic, last)
        self.reached = last
        log.debug("relay_page_published", topic=self.topic, events=len(notifications), position=last)
        return len(notifications)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Publish everything recorded so far; return how many events."""
        done = 0
        while sent := self.pump():
            done += sent
            if progress is not None:
                progress(sent)
        return done

    def run(self, stop: threading.Event, poll_interval: float = 0.5, retry_interval: float = 2.0,
            progress: Callable[[int], None] | None = None) -> None:
        """Follow the log until `stop` is set. A broker that fails a page costs
        a fresh producer and a re-send of that page, nothing else."""
        while not stop.is_set():
            try:
                sent = self.pump()
            except KafkaError as error:
                log.warning("relay_publish_failed", topic=self.topic, position=self.reached, error=str(error))
                self.close()
                stop.wait(retry_interval)
                continue
            if not sent:
                stop.wait(poll_interval)
            elif progress is not None:
                progress(sent)

    def close(self) -> None:
        """Close the producer (the next page opens a new one)."""
        if self.producer is not None:
            self.producer.close(timeout=5)
            self.producer = None
