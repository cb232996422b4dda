#!/usr/bin/env bash
# Installs what the demo or the tests need where it is missing, and says
# what it installs: the Debian packages named as arguments (through apt,
# which needs root), then the `websockets` Python package (the WebSocket echo
# server of the demo and the tests) and the `h2` Python package (the HTTP/2
# peer of the tests, tests/h2_peer.py). Prints nothing when all is there.
set -euo pipefail
PYTHON=${PYTHON:-python3}

missing=""
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
command -v "${CC:-cc}" >/dev/null 2>&1 || missing="$missing gcc"
"$PYTHON" -m pip --version >/dev/null 2>&1 || missing="$missing python3-pip"
if [ -n "$missing" ]; then
  echo "installing (apt):$missing"
  if [ "$(id -u)" != 0 ]; then
    echo "not root: install these packages, then run make again:$missing" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# A distribution Python refuses pip installs (PEP 668) unless told that
# the package is fine.
pip_install() {  # MODULE PACKAGE: installs PACKAGE when MODULE does not import
  "$PYTHON" -c "import $1" 2>/dev/null && return
  echo "installing (pip): $2"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "$2" 2>/dev/null ||
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --break-system-packages "$2"
}
pip_install websockets.asyncio.server websockets
pip_install h2 h2
