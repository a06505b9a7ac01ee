"""Configuration of the ingress edge: the gRPC Mirror service and the HTTP mirror sink.

The route allowlist is not here: it belongs to the whole app (sampler rates, metric labels) and
is passed to :class:`taxmeter.ingress.labels.RouteNormalizer` by ``app.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_STRIP_HEADERS: tuple[str, ...] = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "openai-organization",
    "openai-project",
    "x-goog-api-key",
    "anthropic-api-key",
    "x-amz-security-token",
)
"""Credential headers never kept from a mirrored HTTP request (matched case-insensitively)."""


class TlsConfig(BaseModel):
    """TLS for the ingress listeners; the files are re-read when they change (rotation)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cert_file: Path = Field(description="PEM certificate chain of the server (leaf first).")
    key_file: Path = Field(description="PEM private key of the server certificate.")
    client_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle: when set, mutual TLS: clients must present a certificate "
        "signed by one of these CAs.",
    )
    grpc: bool = Field(default=True, description="TLS on the gRPC ingress.")
    http: bool = Field(default=True, description="TLS on the HTTP mirror sink.")


class IngressConfig(BaseModel):
    """Where the ingress listens and what it accepts. Ports 0 bind an ephemeral port."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="gRPC ingress bind address: the pod's loopback, where the app in the same "
        "pod reaches it (docs/security.md#bind-addresses).",
    )
    http_host: str = Field(
        default="0.0.0.0",
        min_length=1,
        description="HTTP sink bind address, where the mesh's mirror reaches the pod. When "
        "absent and `host` is set, the same as `host`.",
    )
    tls: TlsConfig | None = Field(default=None, description="TLS (and mTLS) on the listeners.")
    bearer_token_file: Path | None = Field(
        default=None,
        description="File holding the bearer token mirrors must present (`authorization: "
        "Bearer ...`, gRPC metadata or HTTP header); re-read when it changes. Health and "
        "readiness stay open.",
    )
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    http_port: int = Field(default=8080, ge=0, le=65535)
    http_enabled: bool = True
    http_route_header: str = Field(default="x-taxmeter-route", min_length=1)
    http_route_path_prefix: str = "/mirror/"
    http_category_header: str = Field(default="x-taxmeter-category", min_length=1)
    http_request_id_header: str = Field(default="x-request-id", min_length=1)
    http_force_sample_header: str = Field(default="x-taxmeter-force-sample", min_length=1)
    default_route: str = Field(default="default", min_length=1, max_length=128)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    http_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Longest time the HTTP sink waits for a mirror's body once its headers "
        "arrived. A sender slower than this (or one that stalls mid-body) gets 408 and the "
        "request is counted as rejected; it cannot hold a connection and a handler open.",
    )
    max_messages: int = Field(default=256, ge=1, le=100_000)
    max_request_id_bytes: int = Field(default=128, ge=8, le=4096)
    max_stream_items: int = Field(default=100_000, ge=1)
    max_stream_errors: int = Field(default=10, ge=0, le=1000)
    max_concurrent_rpcs: int = Field(default=1000, ge=1)
    strip_headers: tuple[str, ...] = DEFAULT_STRIP_HEADERS

    @model_validator(mode="before")
    @classmethod
    def _http_host_follows_host(cls, data: Any) -> Any:
        # Configs written when one `host` served both listeners keep their meaning.
        if isinstance(data, dict) and "host" in data and "http_host" not in data:
            return {**data, "http_host": data["host"]}
        return data

    @field_validator("strip_headers")
    @classmethod
    def _lowercase_headers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in value if h.strip())

    @field_validator(
        "http_route_header",
        "http_category_header",
        "http_request_id_header",
        "http_force_sample_header",
    )
    @classmethod
    def _lowercase_header(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("http_route_path_prefix")
    @classmethod
    def _path_prefix(cls, value: str) -> str:
        if value and (not value.startswith("/") or not value.endswith("/")):
            raise ValueError("must start and end with '/' (e.g. '/mirror/'), or be empty")
        return value
