#!/usr/bin/env bash
# Makes sure a redis-server binary is on PATH for the tests (they start their own
# processes on free ports). Installs Debian's package when it is missing and we may.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
echo "redis-server not found: installing Debian's redis-server package" >&2
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends redis-server redis-tools >&2
else
  echo "ERROR: redis-server is required by the tests and cannot be installed here (need root and apt-get)." >&2
  echo "       Install it (apt-get install redis-server) or put it on PATH, or set REDIS_SERVER=/path/to/redis-server." >&2
  exit 1
fi
command -v redis-server >/dev/null 2>&1 || { echo "ERROR: redis-server still missing after install" >&2; exit 1; }
