"""The scale-out path: a relay publishes the event store's notification log to
a Kafka topic, and consumer processes (one consumer group) feed projections
from that topic into a view store, exactly once per event.

- `topic`: the topic (created with partitions and retention from settings) and
  its message format: key = aggregate id, value = the public envelope as JSON.
- `relay_position` / `relay`: the single relay per event store and its position.
- `feed` / `consumer`: offsets and per-aggregate versions kept in the view
  store with the rows, and the consumer loop.
- `status`: relay and consumer lag, for the CLI and the API.
"""
