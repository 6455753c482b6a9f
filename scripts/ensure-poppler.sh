#!/usr/bin/env bash
# Makes sure pdftoppm and pdftotext (Debian's poppler-utils) are on PATH for the print kit's tests:
# they rasterise the QR PDFs and read their text back. Installs the package when it is missing and
# we may. Running it again when the tools are there does nothing.
set -euo pipefail
if command -v pdftoppm >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1; then
  exit 0
fi
echo "pdftoppm/pdftotext not found: installing Debian's poppler-utils package (needed by the QR print kit tests)" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "ERROR: installing poppler-utils needs root. Run: sudo apt-get update && sudo apt-get install -y poppler-utils" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ERROR: apt-get is not available: install poppler-utils yourself so that pdftoppm and pdftotext are on PATH." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -q >&2; then
  echo "ERROR: apt-get update failed (no network or no package sources?): cannot install poppler-utils." >&2
  exit 1
fi
if ! apt-get install -y -q --no-install-recommends poppler-utils >&2; then
  echo "ERROR: apt-get install poppler-utils failed: see the messages above." >&2
  exit 1
fi
if ! command -v pdftoppm >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1; then
  echo "ERROR: the poppler-utils package is installed but pdftoppm or pdftotext is still missing." >&2
  exit 1
fi
