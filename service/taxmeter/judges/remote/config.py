"""Configuration of the remote judge backend (``judges.backend: kserve``, the ``judges.kserve``
block): pydantic models only, so that loading a configuration never imports gRPC.
See docs/judges-remote.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "KServeAuthConfig",
    "KServeBackendConfig",
    "KServeBreakerConfig",
    "KServeRetryConfig",
    "KServeTLSConfig",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KServeTLSConfig(_Frozen):
    """TLS to the pool. Files are read once at startup; a missing file names the field."""

    ca_file: Path | None = None
    """PEM roots to verify the server; ``None``: the system roots."""
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    server_name_override: str | None = None
    """Name to verify the server certificate against (when ``target`` is an IP or alias)."""

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> KServeTLSConfig:
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise ValueError("client_cert_file and client_key_file go together (mutual TLS)")
        return self


class KServeAuthConfig(_Frozen):
    """An auth header sent with every call. The secret itself is never in the config: it is
    read once at startup from the environment variable or the file named here."""

    header: str = Field(default="authorization", pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    scheme: str | None = "Bearer"
    """Prefix of the header value (``"Bearer <token>"``); ``None`` sends the token as is."""
    token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    token_file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> KServeAuthConfig:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("give exactly one of token_env and token_file")
        if self.header.endswith("-bin"):
            raise ValueError("header must not end in -bin (binary metadata)")
        return self


class KServeRetryConfig(_Frozen):
    max_attempts: int = Field(default=2, ge=1, le=10)
    """Attempts per batch, the first included; retries need budget too."""
    backoff_initial_s: float = Field(default=0.05, gt=0.0, le=60.0)
    backoff_max_s: float = Field(default=1.0, gt=0.0, le=600.0)
    budget_ratio: float = Field(default=0.2, ge=0.0, le=1.0)
    """Retries may add at most this share of calls on top of the first attempts..."""
    budget_min_per_s: float = Field(default=1.0, ge=0.0, le=1000.0)
    """...plus this many retries per second (so a quiet sidecar can still retry)."""


class KServeBreakerConfig(_Frozen):
    failure_threshold: int = Field(default=5, ge=1, le=10_000)
    """Consecutive failed batches that open the breaker."""
    open_s: float = Field(default=5.0, gt=0.0, le=3600.0)
    """How long the breaker stays open before letting probe calls through (half-open)."""
    half_open_max_calls: int = Field(default=1, ge=1, le=100)


class KServeBackendConfig(_Frozen):
    """The remote judge backend (``judges.backend: kserve``)."""

    target: str = Field(min_length=1, pattern=r"^[^\s/]+:\d{1,5}$|^(dns|unix|ipv4|ipv6):.+$")
    """gRPC target: ``host:port`` (or a gRPC URI: ``dns:///pool.ns.svc:8001``)."""
    model_name_template: str = Field(default="{judge}", min_length=1)
    """Remote model name for a judge; ``{judge}`` is replaced by the judge name."""
    model_version: str = ""
    """Remote model version; empty: the server's choice."""
    tls: KServeTLSConfig | None = None
    auth: KServeAuthConfig | None = None
    timeout_s: float = Field(default=2.0, gt=0.0, le=600.0)
    """Deadline of one ModelInfer attempt."""
    connect_timeout_s: float = Field(default=2.0, gt=0.0, le=600.0)
    """Deadline of the startup checks (the backend starts not ready when they fail)."""
    health_interval_s: float = Field(default=2.0, gt=0.0, le=3600.0)
    health_timeout_s: float = Field(default=1.0, gt=0.0, le=600.0)
    health_slow_threshold: int = Field(default=3, ge=1, le=100)
    """Consecutive health checks that time out (a busy pool, not a dead one) before the
    backend reports not ready; a refused connection or a not-ready answer counts at once."""
    max_reconnect_backoff_s: float = Field(default=2.0, gt=0.0, le=300.0)
    """Cap of gRPC's reconnect backoff, so a pool that comes back is used within seconds."""
    max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024, le=2**31 - 1)
    retry: KServeRetryConfig = Field(default_factory=KServeRetryConfig)
    breaker: KServeBreakerConfig = Field(default_factory=KServeBreakerConfig)

    @model_validator(mode="after")
    def _template_names_judge(self) -> KServeBackendConfig:
        if "{judge}" not in self.model_name_template:
            raise ValueError("model_name_template must contain {judge}")
        return self

    def model_name(self, judge: str) -> str:
        return self.model_name_template.replace("{judge}", judge)

    def channel_options(self) -> list[tuple[str, int | str]]:
        """gRPC channel options: message limits, gRPC's reconnect backoff capped (a pool that
        comes back is used within seconds), gRPC's own retries off (ours are budgeted)."""
        options: list[tuple[str, int | str]] = [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", int(self.max_reconnect_backoff_s * 1000)),
            ("grpc.enable_retries", 0),
        ]
        if self.tls is not None and self.tls.server_name_override:
            options.append(("grpc.ssl_target_name_override", self.tls.server_name_override))
        return options
