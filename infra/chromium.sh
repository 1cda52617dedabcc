#!/usr/bin/env bash
# Install Debian's Chromium and its WebDriver when missing; the browser tests
# (tests/browser) drive it through Playwright. Idempotent: a second run finds
# /usr/bin/chromium and does nothing. Progress goes to stderr.
#
#   infra/chromium.sh            # install if missing (root or sudo)
#
# EMERGENCY_CHROMIUM=/path/to/chromium points the tests at another binary;
# then nothing is installed.
set -euo pipefail

log() { printf 'chromium.sh: %s\n' "$*" >&2; }

browser="${EMERGENCY_CHROMIUM:-/usr/bin/chromium}"
if [[ -x "$browser" ]]; then
  exit 0
fi
if [[ -n "${EMERGENCY_CHROMIUM:-}" ]]; then
  log "EMERGENCY_CHROMIUM=$browser is not an executable"
  exit 1
fi

as_root() {
  if ((EUID == 0)); then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "installing Chromium needs root or sudo; install Debian's chromium and chromium-driver"
    exit 1
  fi
}

log "installing Debian's chromium and chromium-driver"
as_root apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver fonts-noto-core >&2
log "installed $("$browser" --version 2>/dev/null || echo chromium)"
