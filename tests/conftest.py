"""The suite's shared fixtures live in `tests/support/` (see its modules);
loaded here so that every test can ask for them by name."""

pytest_plugins = ["tests.support.stores", "tests.support.api", "tests.support.kafka"]
