#!/usr/bin/env bash
# Makes sure pdftoppm and pdftotext (Debian's poppler-utils) are on PATH for the print kit's tests:
# they rasterise the QR PDFs and read their text back. Installs the package when it is missing and
# we may. Running it again when the tools are there does nothing.
set -euo pipefail
have() { command -v pdftoppm >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1; }
have && exit 0
echo "pdftoppm/pdftotext not found: installing Debian's poppler-utils package (needed by the QR print kit tests)" >&2
"$(dirname "$0")/apt-install.sh" "the QR print kit tests" poppler-utils
have || { echo "ERROR: the poppler-utils package is installed but pdftoppm or pdftotext is still missing." >&2; exit 1; }
