"""Schemathesis against the API's own OpenAPI document: requests generated
from every operation (valid and invalid ones), each sent with a token of
every role and with none, never get a server error.

The server runs as `emergency serve` in its own process (Schemathesis calls
it synchronously), on a fresh SQLite store; the run is bounded by the
number of examples per operation.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.tokens import TokenStore
from infra.settings import Settings
from tests.api.test_cli import _env, free_port

EXAMPLES = 10


@dataclass
class Served:
    url: str
    tokens: dict[str, str | None]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'events.sqlite'}"
    tokens = TokenStore.from_settings(Settings(database_url=store))
    by_role: dict[str, str | None] = {role: tokens.create(f"schemathesis {role}", role)[1]
                                      for role in ("coordinator", "auditor", "donor", "admin")}
    by_role["field"] = tokens.create("schemathesis field", "field", ("31",))[1]
    by_role["none"] = None
    port = free_port()
    logs = tmp_path_factory.mktemp("schemathesis-logs") / "server.log"
    process = subprocess.Popen([sys.executable, "-m", "infra.cli", "--database-url", store, "--log-format", "json",
                                "serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=logs.open("w"), env=_env())
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield Served(url, by_role)
    finally:
        process.terminate()
        process.wait(timeout=30)
        failures = [line for line in logs.read_text().splitlines() if '"unhandled_error"' in line]
        assert not failures, failures[:3]


def test_no_generated_request_makes_the_server_fail(served: Served):
    """Each operation in turn (the pytest plugin cannot take a schema made by a fixture on this pytest)."""
    document = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    walked, failed = 0, {}
    for found in document.get_all_operations():
        operation = found.ok()
        for mode in schemathesis.GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case) -> None:
                for token in served.tokens.values():
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    case.call_and_validate(base_url=served.url, headers=headers, checks=[not_a_server_error],
                                           timeout=30)

            try:
                run()
            except Exception as failure:  # every operation is tried; the report lists them all
                failed[f"{operation.label} ({mode.value})"] = str(failure)[:2000]
            walked += 1
    assert walked >= 80
    assert not failed, failed
