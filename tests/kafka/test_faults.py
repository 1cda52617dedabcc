"""Fault tests: relay and consumers run as real processes against the real
broker and PostgreSQL, and are killed, restarted and joined mid-stream.
After each fault the Kafka-fed view store must equal a replay of the log
into a fresh store, table for table and row for row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from kafka import KafkaConsumer, TopicPartition

from consumers.kafka_feed import ensure_tables, stored_offsets
from consumers.relay_position import open_relay_position
from emergency.scenario import ScenarioConfig, run_scenario
from emergency.service import AidService
from infra.settings import Settings
from infra.stores import build_service
from projections.store import ViewStore, open_view_store
from tests.support.kafka import PARTITIONS, PROJECTION_ENTRIES, dump, fed_projections, relay_to, replayed

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
# Short sessions: a killed consumer's partitions move after 6 s, not 45 s.
SESSION_TIMEOUT_MS = "6000"
# Below the kernel's ephemeral range (32768-60999 here): a client socket that happens to
# hold the port mid-suite would stop the broker from binding it.
PRIVATE_BROKER_PORT = int(os.environ.get("EMERGENCY_TEST_KAFKA_RESTART_PORT", "29392"))


class Stack:
    """One event store, one Kafka-fed view store, one topic, and the
    `emergency` processes working on them."""

    def __init__(self, events_url: str, views_url: str, bootstrap: str, topic: str, logs: Path):
        self.events_url, self.views_url, self.bootstrap, self.topic, self.logs = (
            events_url, views_url, bootstrap, topic, logs)
        self.service: AidService = build_service(Settings(database_url=events_url))
        self.views: ViewStore = open_view_store(views_url)
        ensure_tables(self.views)
        self.watch = KafkaConsumer(bootstrap_servers=bootstrap, client_id="test-watch")
        self.processes: list[subprocess.Popen] = []

    def record(self, households: int, seed: int) -> None:
        run_scenario(self.service, ScenarioConfig(households=households, provinces=2, seed=seed))

    @property
    def head(self) -> int:
        return self.service.last_notification_id()

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        env = dict(os.environ, EMERGENCY_DATABASE_URL=self.events_url, EMERGENCY_VIEWS_DATABASE_URL=self.views_url,
                   EMERGENCY_KAFKA_BOOTSTRAP=self.bootstrap, EMERGENCY_KAFKA_TOPIC=self.topic,
                   EMERGENCY_KAFKA_PARTITIONS=str(PARTITIONS), EMERGENCY_LOG_FORMAT="json")
        log = open(self.logs / f"{name}.log", "ab")
        process = subprocess.Popen([sys.executable, "-m", "infra.cli", *args], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def consumer(self, name: str, *extra: str) -> subprocess.Popen:
        projections = [arg for entry in PROJECTION_ENTRIES for arg in ("--projection", entry)]
        return self.spawn(name, "consume", "--group", f"group-{self.topic}",
                          "--session-timeout-ms", SESSION_TIMEOUT_MS, *projections, *extra)

    def log_events(self, name: str, event: str) -> list[dict]:
        lines = (self.logs / f"{name}.log").read_text(errors="replace").splitlines()
        found = [json.loads(line) for line in lines if line.startswith("{")]
        return [entry for entry in found if entry.get("event") == event]

    def relay_position(self) -> int:
        position = open_relay_position(self.events_url)
        try:
            return position.load(self.topic)
        finally:
            position.close()

    def topic_size(self) -> int:
        partitions = [TopicPartition(self.topic, p) for p in range(PARTITIONS)]
        return sum(self.watch.end_offsets(partitions).values())

    def applied(self) -> int:
        """Messages the view store has consumed (offsets stored with its rows)."""
        return sum(stored_offsets(self.views, self.topic).values())

    def relay_in_process(self) -> None:
        with relay_to(self.service.app.recorder, self.events_url, self.bootstrap, self.topic, 1000) as relay:
            relay.catch_up()

    def caught_up(self) -> bool:
        return self.relay_position() == self.head and self.applied() == self.topic_size()

    def assert_equals_replay(self, replay_url: str) -> None:
        fed = dump(self.views)
        assert fed["test_chains"] and fed["case_entitlements"], "nothing was fed"
        assert fed == replayed(self.service.app.recorder, replay_url, fed_projections())

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        self.watch.close()
        self.views.close()
        self.service.app.close()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 90, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(interval)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, as a supervisor would: the process must leave cleanly."""
    process.terminate()
    assert process.wait(timeout=30) == 0


@pytest.fixture
def stack(new_schema_url, kafka_bootstrap: str, topic: str, tmp_path) -> Iterator[Stack]:
    built = Stack(new_schema_url(), new_schema_url(), kafka_bootstrap, topic, tmp_path)
    yield built
    built.close()


def test_relay_killed_mid_batch_loses_nothing_and_counts_nothing_twice(stack: Stack, new_schema_url):
    # One page holds the whole log, so a kill during it is a kill mid-batch;
    # a log large enough that the page takes the relay long enough to be caught in it.
    stack.record(households=2000, seed=1)
    relay = stack.spawn("relay-1", "relay", "--batch-size", "100000")
    wait_until(lambda: stack.topic_size() > 0, "the relay published something")
    relay.kill()
    relay.wait()
    killed_at = stack.relay_position()
    assert stack.topic_size() > killed_at, "the relay was not killed between publishing and storing its position"

    stack.record(households=40, seed=2)
    assert stack.spawn("relay-2", "relay", "--once").wait(timeout=120) == 0
    assert stack.relay_position() == stack.head
    assert stack.topic_size() > stack.head - killed_at  # the unacknowledged page went out again

    consumer = stack.consumer("consumer")
    wait_until(stack.caught_up, "the consumer applied the whole topic")
    stop(consumer)
    stack.assert_equals_replay(new_schema_url())


def test_consumer_killed_mid_batch_resumes_from_its_stored_offsets(stack: Stack, new_schema_url):
    stack.record(households=300, seed=3)
    stack.relay_in_process()
    size = stack.topic_size()
    first = stack.consumer("consumer-1", "--max-records", "10")
    wait_until(lambda: stack.applied() > 0, "the first consumer applied something")
    first.kill()
    first.wait()
    assert stack.applied() < size, "the consumer finished before it was killed"

    second = stack.consumer("consumer-2", "--max-records", "10")
    wait_until(stack.caught_up, "the second consumer applied the rest")
    stop(second)
    stack.assert_equals_replay(new_schema_url())


def test_a_second_consumer_takes_over_partitions_without_loss_or_double_count(stack: Stack, new_schema_url):
    stack.record(households=150, seed=4)
    relay = stack.spawn("relay", "relay", "--batch-size", "50")
    first = stack.consumer("consumer-1", "--max-records", "20")
    wait_until(lambda: stack.applied() > 0, "the first consumer applied something")
    assert {p for e in stack.log_events("consumer-1", "kafka_partitions_assigned") for p in e["partitions"]} \
        == set(range(PARTITIONS))

    # Events keep coming while the group rebalances, and after.
    writer = threading.Thread(target=stack.record, kwargs={"households": 150, "seed": 5})
    writer.start()
    second = stack.consumer("consumer-2", "--max-records", "20")
    wait_until(lambda: any(e["partitions"] for e in stack.log_events("consumer-2", "kafka_partitions_assigned")),
               "the second consumer was given partitions")
    writer.join()
    stack.record(households=100, seed=6)
    wait_until(stack.caught_up, "both consumers applied everything")
    assert stack.log_events("consumer-1", "kafka_partitions_revoked"), "no rebalance happened"
    for process in (relay, first, second):
        stop(process)
    for name in ("consumer-1", "consumer-2"):
        assert stack.log_events(name, "consumer_stopped")[0]["events"] > 0, f"{name} applied nothing"
    stack.assert_equals_replay(new_schema_url())


def kafka_sh(*args: str) -> None:
    env = dict(os.environ, EMERGENCY_KAFKA_PORT=str(PRIVATE_BROKER_PORT),
               EMERGENCY_KAFKA_CONTROLLER_PORT=str(PRIVATE_BROKER_PORT + 1))
    subprocess.run([str(ROOT / "infra" / "kafka.sh"), *args], env=env, check=True, stdout=subprocess.DEVNULL,
                   timeout=300)


@pytest.fixture
def private_broker(kafka_bootstrap: str) -> Iterator[str]:
    """A broker of this test's own, on another port: restarting the shared
    one would disturb every other test using it."""
    kafka_sh("start")
    yield f"127.0.0.1:{PRIVATE_BROKER_PORT}"
    kafka_sh("stop")


def test_a_broker_restart_delays_but_never_loses_or_doubles(private_broker: str, new_schema_url, tmp_path):
    from consumers.topic import ensure_topic

    topic = f"restart-{os.getpid()}-{int(time.time())}"
    ensure_topic(private_broker, topic, PARTITIONS, 3_600_000)
    stack = Stack(new_schema_url(), new_schema_url(), private_broker, topic, tmp_path)
    try:
        stack.record(households=100, seed=8)
        relay = stack.spawn("relay", "relay", "--batch-size", "50")
        consumer = stack.consumer("consumer", "--max-records", "50")
        wait_until(stack.caught_up, "the first events went through")

        kafka_sh("stop")
        stack.record(households=100, seed=7)  # recorded while the broker is down
        time.sleep(2)
        assert stack.relay_position() < stack.head
        kafka_sh("start")
        wait_until(stack.caught_up, "the events recorded during the outage went through", timeout=180)
        stop(relay)
        stop(consumer)
        stack.assert_equals_replay(new_schema_url())
    finally:
        stack.close()
