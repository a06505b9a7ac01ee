"""Configuration of the ``shadow`` section: the two arms and the worker pool.

Credentials never come from this file: an arm names an environment variable (``api_key_env``)
or a file (``api_key_file``) holding its key, read once when its client is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MiB = 1024 * 1024

# Headers that carry credentials: never accepted in ``headers`` (use api_key_env/api_key_file).
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie"}
)
# Body fields the shadow controls itself (or must never change): not in overrides/strip.
RESERVED_BODY_FIELDS = frozenset({"messages", "stream", "stream_options"})


class EndpointConfig(BaseModel):
    """One arm: an OpenAI-compatible chat-completions endpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field(
        description="http(s) URL; requests go to `{base_url}/chat/completions` "
        "(so it usually ends in `/v1`)."
    )
    model: str | None = Field(
        default=None, description="Overrides the body's `model` for this arm."
    )
    provider: str = Field(
        "openai",
        min_length=1,
        max_length=64,
        description="`gen_ai.provider.name` on trace spans (openai, vllm, azure.ai.openai...).",
    )
    timeout_s: float = Field(60.0, gt=0, le=3600, description="Whole call, streaming included.")
    connect_timeout_s: float = Field(5.0, gt=0, le=600)
    max_connections: int = Field(64, ge=1, le=4096, description="Connection pool size.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra non-secret headers sent to this arm."
    )
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the key (sent as a Bearer token)."
    )
    api_key_file: Path | None = Field(default=None, description="File holding the key.")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Top-level body fields set for this arm."
    )
    strip: list[str] = Field(
        default_factory=list, description="Top-level body fields removed for this arm."
    )
    stream: Literal["as_request", "always", "never"] = "as_request"
    include_usage: bool = Field(
        True, description="Add `stream_options.include_usage` when streaming."
    )
    max_response_bytes: int = Field(8 * MiB, ge=1024, le=1024 * MiB)
    max_in_flight: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="At most this many of taxmeter's calls in flight to this arm at once (a job "
        "waits for a slot on both arms, so the pair's two calls leave together); "
        "null: `shadow.concurrency`.",
    )
    comparable_in_flight: int | None = Field(
        default=None,
        ge=1,
        le=4096,
        description="A pair's latencies are compared only when this arm had at most this many "
        "of taxmeter's calls in flight while the pair's call ran (set it to the number of "
        "requests the endpoint serves in parallel); pairs over it are counted in "
        "`taxmeter_shadow_latency_excluded_pairs_total` and left out of latency, TTFT and "
        "token statistics. null: no bound.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, got {v!r}")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        return v.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if name.lower() in CREDENTIAL_HEADERS:
                raise ValueError(
                    f"{name!r} carries credentials: use api_key_env or api_key_file instead"
                )
            if not name or any(c in name for c in " :\r\n"):
                raise ValueError(f"{name!r} is not a valid header name")
        return v

    @field_validator("overrides")
    @classmethod
    def _check_overrides(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = sorted(RESERVED_BODY_FIELDS & set(v))
        if bad:
            raise ValueError(f"cannot override {bad} (use `stream`/`include_usage` for streaming)")
        return v

    @field_validator("strip")
    @classmethod
    def _check_strip(cls, v: list[str]) -> list[str]:
        bad = sorted(RESERVED_BODY_FIELDS & set(v))
        if bad:
            raise ValueError(f"cannot strip {bad}")
        return v

    @model_validator(mode="after")
    def _one_credential_source(self) -> EndpointConfig:
        if self.api_key_env is not None and self.api_key_file is not None:
            raise ValueError("set at most one of api_key_env and api_key_file")
        if self.api_key_env is not None and not self.api_key_env.strip():
            raise ValueError("api_key_env: must name an environment variable")
        return self

    @property
    def chat_url(self) -> str:
        return f"{self.base_url}/chat/completions"

    @property
    def rewrites_body(self) -> bool:
        """True when the body cannot be forwarded byte-for-byte whatever the request says."""
        return bool(self.model is not None or self.overrides or self.strip)


class ShadowConfig(BaseModel):
    """The ``shadow`` section."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    guarded: EndpointConfig
    unguarded: EndpointConfig
    queue_size: int = Field(256, ge=1, le=1_000_000, description="Jobs waiting for a worker.")
    concurrency: int = Field(16, ge=1, le=4096, description="Jobs in flight at once.")
    production_arm: Literal["guarded", "unguarded", "none"] = Field(
        "guarded",
        description="A request carrying a production answer from this arm reuses it instead "
        "of calling the arm (such pairs are left out of latency comparisons).",
    )
    noise_floor_rate: float = Field(
        0.02, ge=0, le=1, description="Share of jobs where one arm is called twice."
    )
    drain_grace_s: float = Field(20.0, ge=0, le=3600)
    length_answers: Literal["include", "exclude"] = Field(
        "include",
        description="Pairs where an arm stopped at its token limit (`finish_reason: length`): "
        "`include` them in the statistics (they are answers, counted in "
        "`taxmeter_shadow_finish_reasons_total`) or `exclude` them (the job is shed, reason "
        "`finish_length`, before judging).",
    )
    tokenizer: Path | None = Field(
        default=None,
        description="A Hugging Face `tokenizer.json` that counts answer tokens when an "
        "endpoint reports no usage (e.g. streams from servers that ignore "
        "`stream_options.include_usage`). null: the first judge's tokenizer from "
        "`judges.repository`, if it has one; without any, such answers have no token count.",
    )
