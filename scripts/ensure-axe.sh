#!/usr/bin/env bash
# Makes sure axe-core (the accessibility checker the console's browser test runs inside the page)
# is in .cache/axe/node_modules/axe-core. Installs the pinned version with npm when it is missing;
# .cache/ is not committed. Running it again when the right version is there does nothing.
set -euo pipefail
VERSION=4.14.1
DIR="$(cd "$(dirname "$0")/.." && pwd)/.cache/axe"
PKG="$DIR/node_modules/axe-core/package.json"
if [ -f "$PKG" ] && grep -q "\"version\": \"$VERSION\"" "$PKG"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: installing Debian's npm package (needed to fetch axe-core for the console browser test)" >&2
  "$(dirname "$0")/apt-install.sh" "the console browser test (to fetch axe-core)" npm
fi
mkdir -p "$DIR"
# --prefix keeps it out of the repository's own tree of packages (there is none) and off the global one.
if ! npm install --prefix "$DIR" --no-save --no-audit --no-fund --ignore-scripts "axe-core@$VERSION" >&2; then
  echo "ERROR: npm install axe-core@$VERSION failed: see the messages above." >&2
  exit 1
fi
echo "axe-core $VERSION installed in $DIR" >&2
