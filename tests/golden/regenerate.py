"""Regenerate a golden log's expected rows, deliberately: never run by the tests.

    .venv/bin/python -m tests.golden.regenerate            # rows of every golden log
    .venv/bin/python -m tests.golden.regenerate --record   # also re-record the current log

Rows change when a projection deliberately changes what it keeps: read the
diff of `<name>.rows.json` before committing it. Re-record the current log
only to add events (a new kind, a new step of the scenario) while its stored
form is unchanged; once the stored form changes, keep the old log and add a
new one (`LOGS` in `tests/golden/log.py`).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from emergency.application import AidApplication
from emergency.event_format import TAGGED
from infra.settings import Settings
from infra.stores import build_service, open_application
from tests.golden import log, scenario


def fresh(directory: Path, name: str) -> AidApplication:
    return open_application(Settings(database_url=f"sqlite:///{directory}/{name}.sqlite", event_format=TAGGED))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help=f"re-record {log.CURRENT} from tests.golden.scenario")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        if args.record:
            service = build_service(Settings(database_url=f"sqlite:///{directory}/recorded.sqlite", event_format=TAGGED))
            scenario.record(service)
            log.write_log(log.CURRENT, log.lines_of(service.app))
            print(f"recorded {log.log_path(log.CURRENT)}")
        for name in log.LOGS:
            app = fresh(Path(directory), name)
            log.load(app, log.read_log(name))
            log.write_rows(name, log.projected_rows(app, f"sqlite:///{directory}/{name}-views.sqlite"))
            print(f"wrote {log.rows_path(name)}")


if __name__ == "__main__":
    main()
