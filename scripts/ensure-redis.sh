#!/usr/bin/env bash
# Makes sure a redis-server binary is on PATH for the tests (they start their own
# processes on free ports). Installs Debian's package when it is missing and we may.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
echo "redis-server not found: installing Debian's redis-server package" >&2
if ! "$(dirname "$0")/apt-install.sh" "the tests" redis-server redis-tools; then
  echo "       Or put redis-server on PATH, or set REDIS_SERVER=/path/to/redis-server." >&2
  exit 1
fi
command -v redis-server >/dev/null 2>&1 || { echo "ERROR: redis-server still missing after install" >&2; exit 1; }
