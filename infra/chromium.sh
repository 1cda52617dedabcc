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

# apt-get needs root: run it as is when we are root, else through sudo.
elevate=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null 2>&1; then
    log "installing Chromium needs root or sudo; install Debian's chromium and chromium-driver"
    exit 1
  fi
  elevate=(sudo)
fi

log "installing Debian's chromium and chromium-driver"
"${elevate[@]}" apt-get update -qq >&2
"${elevate[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver fonts-noto-core >&2
log "installed $("$browser" --version 2>/dev/null || echo chromium)"
