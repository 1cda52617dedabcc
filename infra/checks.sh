#!/usr/bin/env bash
# The static checks (README, Static checks), in order; the first that fails
# stops the script with its status. infra/test.sh runs them before the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "checks: lint-imports" >&2
.venv/bin/lint-imports --no-cache --no-logo
echo "checks: ruff check" >&2
.venv/bin/ruff check --quiet .
echo "checks: mypy" >&2
.venv/bin/mypy
