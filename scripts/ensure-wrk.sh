#!/usr/bin/env bash
# Makes sure wrk (the load generator of make bench, written in C) is on PATH. Installs Debian's
# package when it is missing and we may.
set -euo pipefail
if command -v wrk >/dev/null 2>&1; then
  exit 0
fi
echo "wrk not found: installing Debian's wrk package" >&2
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends wrk >&2
else
  echo "ERROR: wrk is required by the load test and cannot be installed here (need root and apt-get)." >&2
  echo "       Install it (apt-get install wrk) or put it on PATH, or set WRK=/path/to/wrk." >&2
  exit 1
fi
command -v wrk >/dev/null 2>&1 || { echo "ERROR: wrk still missing after install" >&2; exit 1; }
