#!/usr/bin/env bash
# Create .venv (Python 3.11) and install the project into it; a second run only
# re-checks what is installed. Usage: infra/bootstrap.sh [extra, e.g. test]
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$candidate"; return
    fi
  done
  echo "Python 3.11 is required" >&2; exit 1
}

if [ ! -x .venv/bin/python ]; then
  "$(python_bin)" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip >&2
fi
extra=${1:-}
.venv/bin/python -m pip install -q -e ".${extra:+[$extra]}" >&2
