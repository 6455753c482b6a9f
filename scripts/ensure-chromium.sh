#!/usr/bin/env bash
# Makes sure /usr/bin/chromium exists for the console's browser test (it drives headless
# Chromium through the DevTools protocol). Installs Debian's chromium package when it is
# missing and we may. Running it again when Chromium is there does nothing.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
echo "$CHROMIUM not found: installing Debian's chromium package (needed by the console browser test)" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "ERROR: installing chromium needs root. Run: sudo apt-get update && sudo apt-get install -y chromium" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: apt-get is not available: install Chromium yourself so that $CHROMIUM exists." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >&2; then
  echo "ERROR: apt-get update failed (no network or no package sources?): cannot install chromium." >&2
  exit 1
fi
if ! apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >&2; then
  echo "ERROR: apt-get install chromium failed: see the messages above." >&2
  exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  echo "ERROR: the chromium package is installed but $CHROMIUM is still missing." >&2
  exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")" >&2
