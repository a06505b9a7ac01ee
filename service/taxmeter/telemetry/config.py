from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TelemetryConfig(BaseModel):
    """Metrics endpoint, logs and traces."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metrics_host: str = "0.0.0.0"
    metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus /metrics port.")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    log_prompts: bool = Field(
        False,
        description="Never enable in production: prompts and answers are production data. "
        "Only the demo's debug mode uses it.",
    )
    service_name: str = "taxmeter"
