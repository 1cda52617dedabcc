"""What the tests share: stores on both backends, the API client, builders of
commands and request bodies, the Kafka and browser helpers. Fixtures among
them are loaded by the root conftest (`pytest_plugins`); the rest is imported."""
