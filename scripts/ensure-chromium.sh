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
"$(dirname "$0")/apt-install.sh" "the console browser test" chromium fonts-dejavu-core
if [ ! -x "$CHROMIUM" ]; then
  echo "ERROR: the chromium package is installed but $CHROMIUM is still missing." >&2
  exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")" >&2
