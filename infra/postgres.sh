#!/usr/bin/env bash
# Start (default) or stop a local PostgreSQL server for the project.
#
#   eval "$(infra/postgres.sh)"    # start if needed; sets EMERGENCY_DATABASE_URL
#   infra/postgres.sh stop
#
# stdout carries exactly one line, the export; all progress goes to stderr.
# See infra/README.md for the environment variables.
set -euo pipefail

STATE_DIR="${EMERGENCY_STATE_DIR:-$HOME/.cache/emergency}"
PGDATA_DIR="${EMERGENCY_PG_DATA:-$STATE_DIR/pg}"
# Absolute: the server tools run from / (see as_owner).
[[ "$STATE_DIR" == /* ]] || STATE_DIR="$PWD/$STATE_DIR"
[[ "$PGDATA_DIR" == /* ]] || PGDATA_DIR="$PWD/$PGDATA_DIR"
PORT="${EMERGENCY_PG_PORT:-54329}"
HOST=127.0.0.1
DB_NAME=emergency
DB_USER=emergency
DB_PASSWORD=emergency
URL="postgresql://$DB_USER:$DB_PASSWORD@$HOST:$PORT/$DB_NAME"
START_TIMEOUT="${EMERGENCY_PG_START_TIMEOUT:-60}"
LOG_FILE="$PGDATA_DIR/server.log"
BIN_DIR=""

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# Serialises concurrent runs (say, parallel CI jobs) so only one of them
# installs, creates or starts. pg_ctl gets fd 9 closed (9>&-), otherwise the
# postmaster would hold the lock for as long as it runs.
take_lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/pg.lock"
  flock -w 600 9 || die "another postgres.sh has held $STATE_DIR/pg.lock for 10 minutes"
}

# True if something accepts TCP connections on $HOST:$PORT.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
}

# Newest Debian server install, else whatever initdb is on PATH.
find_bin_dir() {
  local d
  d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 3 -path '*/bin/initdb' \
    -printf '%h\n' 2>/dev/null | sort -V | tail -n 1)"
  if [[ -z "$d" ]] && command -v initdb >/dev/null 2>&1; then
    d="$(dirname "$(command -v initdb)")"
  fi
  [[ -n "$d" ]] && BIN_DIR="$d"
}

as_root() {
  if ((EUID == 0)); then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

apt_install() {
  log "installing Debian packages: $*"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_server_installed() {
  find_bin_dir && return 0
  command -v apt-get >/dev/null 2>&1 || die "no PostgreSQL server found and no apt-get to install one"
  apt_install postgresql
  find_bin_dir || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
}

# initdb and the server refuse to run as root, so as root the cluster
# belongs to the postgres user that the Debian package creates.
as_owner() {
  if ((EUID == 0)); then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# As root the data directory usually sits under /root (mode 0700), which
# the postgres user cannot enter. Grant that one user search permission on
# each blocking ancestor with an ACL rather than opening them to everyone.
ensure_owner_can_reach() {
  ((EUID == 0)) || return 0
  local dir
  dir="$(dirname "$PGDATA_DIR")"
  mkdir -p "$dir"
  while [[ "$dir" != / ]]; do
    if ! runuser -u postgres -- test -x "$dir"; then
      command -v setfacl >/dev/null 2>&1 || apt_install acl
      log "granting the postgres user search (x) permission on $dir"
      setfacl -m u:postgres:x "$dir"
    fi
    dir="$(dirname "$dir")"
  done
}

# The socket lives in the data directory (0700, so only the owner can use
# the trust-authenticated local socket), unless the path would exceed the
# 107-byte limit of a Unix socket address.
socket_dir() {
  local sock="$PGDATA_DIR/.s.PGSQL.$PORT"
  if ((${#sock} < 100)); then
    printf '%s\n' "$PGDATA_DIR"
  else
    printf '/tmp\n'
  fi
}

init_cluster() {
  [[ -f "$PGDATA_DIR/PG_VERSION" ]] && return 0
  log "creating a PostgreSQL cluster in $PGDATA_DIR"
  ensure_owner_can_reach
  mkdir -p "$PGDATA_DIR"
  if ((EUID == 0)); then chown postgres:postgres "$PGDATA_DIR"; fi
  chmod 700 "$PGDATA_DIR"
  # Local socket: trust (see socket_dir). TCP: passwords only.
  as_owner "$BIN_DIR/initdb" -D "$PGDATA_DIR" -U postgres --encoding=UTF8 \
    --locale=C --auth-local=trust --auth-host=scram-sha-256 --no-instructions >&2
  printf "\ninclude_if_exists = 'emergency.conf'\n" |
    as_owner tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null
}

# Rewritten at every start so EMERGENCY_PG_PORT / EMERGENCY_PG_FAST apply.
write_conf() {
  local durable=on
  if [[ "${EMERGENCY_PG_FAST:-0}" == 1 ]]; then
    # Much faster tests, but a crash can corrupt the cluster, and numbers
    # measured this way say nothing about real commit latency.
    log "EMERGENCY_PG_FAST=1: fsync, synchronous_commit and full_page_writes are OFF (not for benchmarks)"
    durable=off
  fi
  as_owner tee "$PGDATA_DIR/emergency.conf" >/dev/null <<EOF
# Written by infra/postgres.sh at every start; edits here are overwritten.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$(socket_dir)'
max_connections = 200
shared_buffers = 256MB
timezone = 'UTC'
fsync = $durable
synchronous_commit = $durable
full_page_writes = $durable
EOF
}

# Pid of the postmaster serving our data directory, if one is running.
our_postmaster() {
  [[ -n "$BIN_DIR" && -f "$PGDATA_DIR/postmaster.pid" ]] || return 1
  as_owner "$BIN_DIR/pg_ctl" status -D "$PGDATA_DIR" >/dev/null 2>&1 || return 1
  as_owner head -n 1 "$PGDATA_DIR/postmaster.pid"
}

# Line 4 of postmaster.pid is the port the running server listens on.
running_port() {
  as_owner sed -n 4p "$PGDATA_DIR/postmaster.pid"
}

start_server() {
  log "starting PostgreSQL on $HOST:$PORT (log: $LOG_FILE)"
  if ! as_owner "$BIN_DIR/pg_ctl" start -D "$PGDATA_DIR" -l "$LOG_FILE" \
    -w -t "$START_TIMEOUT" >&2 9>&-; then
    log "---- last lines of $LOG_FILE ----"
    as_owner tail -n 30 "$LOG_FILE" >&2 || true
    die "PostgreSQL did not start"
  fi
}

wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until "$BIN_DIR/pg_isready" -q -h "$HOST" -p "$PORT"; do
    ((SECONDS < deadline)) || die "PostgreSQL on $HOST:$PORT not ready after ${START_TIMEOUT}s"
    sleep 0.2
  done
}

admin_psql() {
  as_owner "$BIN_DIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$(socket_dir)" \
    -p "$PORT" -U postgres -d postgres
}

# Idempotent: creates what is missing and resets the password, so a
# half-finished earlier run is repaired. CREATEDB lets tests make and drop
# throwaway databases.
ensure_role_and_db() {
  admin_psql >&2 <<SQL
SELECT format('CREATE ROLE %I', '$DB_USER')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER')\gexec
ALTER ROLE $DB_USER WITH LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
SELECT format('CREATE DATABASE %I OWNER %I', '$DB_NAME', '$DB_USER')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$DB_NAME')\gexec
SQL
}

# A server we did not start: leave it alone, but say if our login fails.
check_foreign_server() {
  log "a server already answers on $HOST:$PORT and does not use $PGDATA_DIR; leaving it alone"
  if [[ -n "$BIN_DIR" ]] &&
    ! PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=5 "$BIN_DIR/psql" -X -q -d "$URL" \
      -c 'SELECT 1' >/dev/null 2>&1; then
    log "WARNING: cannot log in as $DB_USER to database $DB_NAME there"
  fi
}

start() {
  local pid
  ensure_server_installed
  if pid="$(our_postmaster)"; then
    [[ "$(running_port)" == "$PORT" ]] ||
      die "our cluster in $PGDATA_DIR already runs on port $(running_port); stop it first or set EMERGENCY_PG_PORT"
    log "PostgreSQL (pid $pid) is already running on $HOST:$PORT"
    wait_ready
    ensure_role_and_db
  elif port_open; then
    check_foreign_server
  else
    init_cluster
    write_conf
    start_server
    wait_ready
    ensure_role_and_db
    log "PostgreSQL ready on $HOST:$PORT after ${SECONDS}s"
  fi
  printf 'export EMERGENCY_DATABASE_URL=%s\n' "$URL"
}

stop() {
  find_bin_dir || true
  if ! our_postmaster >/dev/null; then
    log "no PostgreSQL of ours is running for $PGDATA_DIR"
    return 0
  fi
  log "stopping PostgreSQL ($PGDATA_DIR)"
  # fast: roll back open transactions and disconnect clients, then a clean
  # shutdown checkpoint, so the next start needs no crash recovery.
  as_owner "$BIN_DIR/pg_ctl" stop -D "$PGDATA_DIR" -m fast -w -t "$START_TIMEOUT" >&2
}

main() {
  case "${1:-start}" in
    start)
      take_lock
      start
      ;;
    stop)
      take_lock
      stop
      ;;
    *) die "usage: $0 [start|stop]" ;;
  esac
}

main "$@"
