#!/usr/bin/env bash
# Installs Debian packages for the ensure-*.sh scripts: apt-install.sh "WHO needs them" PACKAGE...
# Updates the package lists first, as a fresh machine needs. Fails with a message saying what to do
# when it cannot install (not root, no apt-get, no network).
set -euo pipefail
who=$1
shift
pkgs="$*"
if [ "$(id -u)" -ne 0 ]; then
  echo "ERROR: installing $pkgs (needed by $who) needs root. Run: sudo apt-get update && sudo apt-get install -y $pkgs" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: apt-get is not available: install $pkgs (needed by $who) yourself." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >&2; then
  echo "ERROR: apt-get update failed (no network or no package sources?): cannot install $pkgs." >&2
  exit 1
fi
# shellcheck disable=SC2086 # one word a package
if ! apt-get install -y -q --no-install-recommends $pkgs >&2; then
  echo "ERROR: apt-get install $pkgs failed: see the messages above." >&2
  exit 1
fi
