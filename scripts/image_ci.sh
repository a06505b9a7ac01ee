#!/usr/bin/env bash
# Builds the CPU image from the Dockerfile without a Docker engine, runs it and checks it from
# outside the container (issue 11):
#   1. a Debian bookworm base made by debootstrap (python3, python3-venv, ca-certificates),
#      committed with buildah and passed in through the Dockerfile's ARG CPU_BASE_IMAGE;
#   2. `buildah bud --target cpu`; its size is printed;
#   3. the image runs (`buildah run`, host network) with a config that points at two simulated
#      endpoints on the host; from the host: gRPC health SERVING, /metrics answers, and a
#      Mirror request is received, shadowed to both endpoints and counted.
# Needs root (or rootless buildah with user namespaces), buildah and debootstrap (installed
# from apt when absent). Work folder: .image-build/ (IMAGE_WORK). Usage: scripts/image_ci.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${IMAGE_WORK:-.image-build}"
PY="${PYTHON:-.venv/bin/python}"
BASE=localhost/taxmeter-base:bookworm
IMAGE=localhost/taxmeter:ci-cpu
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
mkdir -p "$WORK"
log() { echo "image_ci: $*" >&2; }

need=()
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
  ${SUDO} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# chroot isolation: no nested user namespaces or cgroups needed inside CI containers.
export BUILDAH_ISOLATION=chroot

# 1. the base ---------------------------------------------------------------------------------
if ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  t0=$(date +%s)
  rm -rf "$WORK/rootfs"
  ${SUDO} debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log"
  ${SUDO} rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  ${SUDO} cp -a "$WORK/rootfs/." "$mnt/"
  buildah umount "$ctr" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
  buildah commit -q "$ctr" "$BASE" >/dev/null
  buildah rm "$ctr" >/dev/null
  ${SUDO} rm -rf "$WORK/rootfs"
  log "base $BASE from debootstrap in $(( $(date +%s) - t0 )) s"
fi

# 2. the image --------------------------------------------------------------------------------
# Behind a TLS-intercepting proxy: IMAGE_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt (and/or
# IMAGE_PIP_CONF=FILE) reach pip inside the build as secrets, as docs/operations.md#image says.
secrets=()
if [ -n "${IMAGE_CA_BUNDLE:-}" ]; then secrets+=(--secret "id=ca_bundle,src=${IMAGE_CA_BUNDLE}"); fi
if [ -n "${IMAGE_PIP_CONF:-}" ]; then secrets+=(--secret "id=pip_conf,src=${IMAGE_PIP_CONF}"); fi
t0=$(date +%s)
buildah bud --layers=false --target cpu --network host "${secrets[@]}" \
  --build-arg "CPU_BASE_IMAGE=$BASE" -t "$IMAGE" -f Dockerfile . >"$WORK/bud.log" 2>&1 || {
  tail -40 "$WORK/bud.log" >&2; exit 1; }
size=$(buildah images --format '{{.Size}}' "$IMAGE" | head -1)
log "built $IMAGE in $(( $(date +%s) - t0 )) s, size $size"

# 3. run it and check it from outside ----------------------------------------------------------
exec "$PY" scripts/image_ci_check.py "$IMAGE" "$WORK"
