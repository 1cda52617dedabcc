#!/usr/bin/env bash
# Run the benchmarks (bench/README in the main README's "Benchmarks"): installs
# the project with its bench extras (matplotlib for the chart, Playwright for
# the pages) and Debian's Chromium when missing, starts PostgreSQL and Kafka
# when none answers, then runs bench/run_all.py; extra
# arguments go to it (--quick for smaller sizes, --skip ingest,...).
set -euo pipefail
cd "$(dirname "$0")/.."
infra/bootstrap.sh bench
infra/chromium.sh
eval "$(infra/services.sh)"
export EMERGENCY_TEST_POSTGRES_URL="$EMERGENCY_DATABASE_URL"
unset EMERGENCY_DATABASE_URL  # each benchmark makes its own stores
exec .venv/bin/python bench/run_all.py "$@"
