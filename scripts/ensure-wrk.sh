#!/usr/bin/env bash
# Makes sure wrk (the load generator of make bench, written in C) is on PATH. Installs Debian's
# package when it is missing and we may.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
echo "wrk not found: installing Debian's wrk package" >&2
if ! "$(dirname "$0")/apt-install.sh" "the load test" wrk; then
  echo "       Or put wrk on PATH, or set WRK=/path/to/wrk." >&2
  exit 1
fi
command -v wrk >/dev/null 2>&1 || { echo "ERROR: wrk still missing after install" >&2; exit 1; }
