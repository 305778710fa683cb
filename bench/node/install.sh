#!/bin/bash
# bench/node/install.sh — installs the exact packages of bench/node/package-lock.json
# into bench/node/node_modules (the OpenTelemetry JS SDK for the otel-sdk mode
# of bench/node/run.sh). Quick when node_modules already matches the lock.
#
#   bash bench/node/install.sh
#
# Uses npm's configured registry; installs nothing outside bench/node.
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench/node/install.sh: $tool not found (Debian: apt-get install nodejs npm; Node 20 or later)" >&2
        exit 2
    fi
done
[ -f "$here/package-lock.json" ] || { echo "bench/node/install.sh: no package-lock.json in $here" >&2; exit 2; }

# npm writes node_modules/.package-lock.json after an install; when it is
# newer than the lock and package.json, the tree matches: nothing to do.
marker="$here/node_modules/.package-lock.json"
if [ -f "$marker" ] && [ "$marker" -nt "$here/package-lock.json" ] && [ "$marker" -nt "$here/package.json" ] &&
   (cd "$here" && npm ls --depth=0 >/dev/null 2>&1); then
    echo "bench/node/install.sh: node_modules is up to date" >&2
    exit 0
fi

cd "$here"
npm ci --no-audit --no-fund
