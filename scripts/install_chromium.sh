#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the replay report test (issue 14): the HTML
# report is rendered in a real browser and its screenshot checked for the plots. Idempotent.
# Usage: scripts/install_chromium.sh
set -euo pipefail

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

if ! command -v chromium >/dev/null 2>&1; then
  ${SUDO} apt-get update -qq
  # fonts-dejavu-core: the report's font; without any font the text renders as boxes.
  DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core
fi
echo "chromium:      $(chromium --version 2>/dev/null | head -1)"
