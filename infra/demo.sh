#!/usr/bin/env bash
# Install the project, load the demo on the embedded default store (SQLite,
# in-process projections, no Kafka), then serve the dashboard and the public
# page on it until Ctrl-C. Extra arguments go to `emergency demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
infra/bootstrap.sh
exec .venv/bin/emergency demo --serve "$@"
