#!/usr/bin/env bash
# Runs govulncheck against a vulnerability database built locally from the pinned
# golang.org/x/vulndb module (this machine reaches the Go module proxy but not the database's
# web address). Pin both versions here; bump them to pick up new advisories.
set -euo pipefail
cd "$(dirname "$0")/.."
VULN=golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
cache="${XDG_CACHE_HOME:-$HOME/.cache}/redirector/vulndb-$VULNDB_VERSION"
if [ ! -f "$cache/index/db.json" ]; then
  src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [ -d "$src/data/osv" ] || { echo "govulncheck: could not fetch golang.org/x/vulndb@$VULNDB_VERSION" >&2; exit 1; }
  echo "govulncheck: building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION (once)" >&2
  rm -rf "$cache.tmp" && mkdir -p "$(dirname "$cache")"
  GOFLAGS=-mod=mod go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$cache.tmp"
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
exec go run "$VULN" -db "file://$cache" ./...
