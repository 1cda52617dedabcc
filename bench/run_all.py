"""Run the benchmarks of the typhoon-scale targets one after the other, then the chart.

    python bench/run_all.py [--quick] [--skip ingest,import,rebuild,lag,read,pages,field,codec]

At full size (the targets' own sizes: 400,000 statement lines, 10 million
events, 400,000 households) a first run takes about three hours on 2 cores,
most of it making the 10-million-event log and the 400,000-household store
(both kept in var/bench/ for the next run).
`--quick` runs smaller sizes (100,000 lines, 1 million events, shorter loads)
in about a quarter of that; each result file records the sizes it ran.
Needs PostgreSQL and Kafka (`infra/bench.sh` starts both and runs this).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FULL = {
    "ingest": ["ingest.py"],
    "import": ["import_statement.py", "--lines", "400000"],
    "rebuild": ["rebuild.py", "--events", "10000000"],
    "lag": ["lag.py"],
    "read": ["read_scale.py"],
    "pages": ["pages.py"],
    "field": ["field_sync.py"],
    "codec": ["codec.py"],
}
QUICK = {
    "ingest": ["ingest.py", "--seconds", "5"],
    "import": ["import_statement.py", "--lines", "100000"],
    "rebuild": ["rebuild.py", "--events", "1000000"],
    "lag": ["lag.py", "--seconds", "5"],
    "read": ["read_scale.py", "--households", "40000", "--repeat", "5"],
    "pages": ["pages.py", "--lines", "100000", "--runs", "2", "--live-seconds", "60"],
    "field": ["field_sync.py", "--queued", "1000", "--synced", "200"],
    "codec": ["codec.py", "--households", "1000", "--contributions", "2000", "--repeat", "5"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a try-out")
    parser.add_argument("--skip", default="", help="comma-separated: ingest, import, rebuild, lag, read, pages, field, codec")
    args = parser.parse_args()
    skipped = set(filter(None, args.skip.split(",")))
    failed = []
    for name, command in (QUICK if args.quick else FULL).items():
        if name in skipped:
            continue
        print(f"\n===== {name}: {' '.join(command)}", flush=True)
        started = time.perf_counter()
        if subprocess.run([sys.executable, str(HERE / command[0]), *command[1:]], cwd=HERE.parent).returncode:
            failed.append(name)
        print(f"===== {name} took {time.perf_counter() - started:,.0f} s", flush=True)
    subprocess.run([sys.executable, str(HERE / "chart.py")], check=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
