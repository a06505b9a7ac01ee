# syntax=docker/dockerfile:1
# taxmeter image: two targets from one file.
#   docker build --target cpu  -t taxmeter:0.1.0-cpu .
#   docker build --target cuda -t taxmeter:0.1.0-cuda .
# Base images are build arguments (pin them by digest in your registry mirror). Behind a proxy,
# pass pip's configuration and CA bundle as build secrets (never baked into a layer):
#   --secret id=pip_conf,src=pip.conf --secret id=ca_bundle,src=corp-ca.pem
# (pip.conf: index-url, trusted-host, ...; the CA bundle: PEM, your proxy's CA included).
# The CPU image carries ONNX Runtime for CPU only.
ARG CPU_BASE_IMAGE=python:3.11.14-slim-bookworm
# onnxruntime-gpu 1.31.1 is a CUDA 13 build with cuDNN 9: the CUDA base must match.
ARG CUDA_BASE_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

# ---- CPU build: venv + default judges -------------------------------------------------------
FROM ${CPU_BASE_IMAGE} AS build-cpu
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/docker/ deploy/docker/
COPY service/ service/
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=ca_bundle \
    sh deploy/docker/install.sh python3 /opt/venv /src /opt/taxmeter/judges cpu

# ---- CUDA build: same steps on the CUDA base (its own Python) -------------------------------
FROM ${CUDA_BASE_IMAGE} AS build-cuda
ENV PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3=3.12.* python3-venv=3.12.* \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY deploy/docker/ deploy/docker/
COPY service/ service/
RUN --mount=type=secret,id=pip_conf --mount=type=secret,id=ca_bundle \
    sh deploy/docker/install.sh python3 /opt/venv /src /opt/taxmeter/judges gpu

# ---- CPU runtime ------------------------------------------------------------------------------
FROM ${CPU_BASE_IMAGE} AS cpu
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 taxmeter \
    && useradd --system --uid 10001 --gid taxmeter --no-create-home --shell /usr/sbin/nologin taxmeter
COPY --from=build-cpu /opt/venv /opt/venv
COPY --from=build-cpu /opt/taxmeter/judges /opt/taxmeter/judges
USER 10001:10001
EXPOSE 50051 8080 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
ENTRYPOINT ["taxmeter"]
CMD ["serve", "--config", "/etc/taxmeter/taxmeter.yaml"]

# ---- CUDA runtime -----------------------------------------------------------------------------
FROM ${CUDA_BASE_IMAGE} AS cuda
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3=3.12.* \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 taxmeter \
    && useradd --system --uid 10001 --gid taxmeter --no-create-home --shell /usr/sbin/nologin taxmeter
COPY --from=build-cuda /opt/venv /opt/venv
COPY --from=build-cuda /opt/taxmeter/judges /opt/taxmeter/judges
USER 10001:10001
EXPOSE 50051 8080 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
ENTRYPOINT ["taxmeter"]
CMD ["serve", "--config", "/etc/taxmeter/taxmeter.yaml"]
