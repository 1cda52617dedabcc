#!/usr/bin/env bash
# Run the whole test suite: installs the project with its test extras, runs the
# static checks (each failure stops it), installs and starts PostgreSQL and
# Apache Kafka when none answers, then runs pytest against real servers. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
infra/bootstrap.sh test
infra/checks.sh
infra/chromium.sh
eval "$(infra/services.sh)"
export EMERGENCY_TEST_POSTGRES_URL="$EMERGENCY_DATABASE_URL"
unset EMERGENCY_DATABASE_URL  # tests choose their own stores
export EMERGENCY_REQUIRE_ALL=1
exec .venv/bin/python -m pytest "$@"
