#!/usr/bin/env bash
# Install the project and run the demo on the embedded default store (SQLite,
# in-process projections, no Kafka). Extra arguments go to `emergency demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
infra/bootstrap.sh
exec .venv/bin/emergency demo "$@"
