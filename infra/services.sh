#!/usr/bin/env bash
# Start (default) or stop both local services: PostgreSQL, then Kafka.
#
#   eval "$(infra/services.sh)"    # sets EMERGENCY_DATABASE_URL and EMERGENCY_KAFKA_BOOTSTRAP
#   infra/services.sh stop
#
# stdout carries only the two export lines; progress goes to stderr.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

start() {
  # Each script prints its export line only after its service answers, and
  # set -e stops here if either fails, so a caller never evals half a setup.
  local pg kafka
  pg="$("$SCRIPT_DIR/postgres.sh" start)"
  kafka="$("$SCRIPT_DIR/kafka.sh" start)"
  printf '%s\n%s\n' "$pg" "$kafka"
}

# Kafka first, the reverse of the start order; try both even if one fails.
stop() {
  local rc=0
  "$SCRIPT_DIR/kafka.sh" stop || rc=1
  "$SCRIPT_DIR/postgres.sh" stop || rc=1
  return "$rc"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *)
    printf 'usage: %s [start|stop]\n' "$0" >&2
    exit 1
    ;;
esac
