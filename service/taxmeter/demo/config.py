"""Configuration of the demo: simulated routes, traffic rate, seed (the ``demo`` section).

The demo's document is the sidecar's configuration plus a ``demo`` section: ``DemoDocument``
wraps ``taxmeter.config.Config`` (which knows nothing of the demo).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from taxmeter.config import Config, apply_env_overrides, config_from_dict, validate_model


class DemoRouteConfig(BaseModel):
    """One simulated application route and how the guarded persona treats it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_./-]+$")
    weight: float = Field(1.0, gt=0, le=1000, description="Share of traffic (relative).")
    category: str | None = Field(
        default=None, max_length=64, description="Task category sent with the mirror, if any."
    )
    topic: str | None = Field(
        default=None,
        description="Prompt pool (support, coding, health, writing); default: the route name "
        "if it is a pool, else all pools.",
    )
    guarded_refusal_share: float = Field(
        0.1, ge=0, le=1, description="Share of benign prompts the guarded persona refuses."
    )
    guarded_quality_drop: float = Field(
        0.1, ge=0, le=1, description="Share of benign prompts answered worse by the guarded arm."
    )
    guarded_added_latency_ms: float = Field(60.0, ge=0, le=60_000)
    harmful_share: float = Field(0.05, ge=0, le=1, description="Share of harmful prompts sent.")


def _default_routes() -> list[DemoRouteConfig]:
    return [
        DemoRouteConfig(
            name="support-chat",
            weight=3,
            topic="support",
            category="support",
            guarded_refusal_share=0.06,
            guarded_quality_drop=0.08,
            guarded_added_latency_ms=45,
            harmful_share=0.04,
        ),
        DemoRouteConfig(
            name="code-assist",
            weight=2,
            topic="coding",
            category="coding",
            guarded_refusal_share=0.12,
            guarded_quality_drop=0.1,
            guarded_added_latency_ms=70,
            harmful_share=0.08,
        ),
        DemoRouteConfig(
            name="health-info",
            weight=1,
            topic="health",
            guarded_refusal_share=0.3,
            guarded_quality_drop=0.2,
            guarded_added_latency_ms=110,
            harmful_share=0.05,
        ),
        DemoRouteConfig(
            name="writing",
            weight=1,
            topic="writing",
            guarded_refusal_share=0.04,
            guarded_quality_drop=0.05,
            guarded_added_latency_ms=30,
            harmful_share=0.02,
        ),
    ]


class DemoConfig(BaseModel):
    """The ``demo`` section: routes, Mirror requests per second, seed, share of streaming."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: list[DemoRouteConfig] = Field(default_factory=_default_routes, min_length=1)
    rate_per_s: float = Field(20.0, gt=0, le=10_000)
    seed: int = 7
    stream_share: float = Field(0.5, ge=0, le=1)
    latency_scale: float = Field(
        1.0, ge=0, le=100, description="Multiplies simulated latencies (0: answer at once)."
    )

    @field_validator("routes")
    @classmethod
    def _unique(cls, v: list[DemoRouteConfig]) -> list[DemoRouteConfig]:
        names = [r.name for r in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate route names {dupes}")
        return v

    def route(self, name: str) -> DemoRouteConfig | None:
        return next((r for r in self.routes if r.name == name), None)


@dataclass(frozen=True, slots=True)
class DemoDocument:
    """A ``taxmeter demo`` document: the sidecar's ``Config`` and the ``demo`` section."""

    config: Config
    demo: DemoConfig


def demo_document_from_dict(
    doc: Mapping[str, Any], env: Mapping[str, str] | None = None
) -> DemoDocument:
    """Split the ``demo`` section off ``doc`` (after ``TAXMETER__...`` overrides from ``env``)
    and validate both parts; a problem raises ``ConfigError`` naming the field."""
    data = apply_env_overrides(dict(doc), env or {})
    demo = validate_model(DemoConfig, data.pop("demo", None) or {}, "demo")
    return DemoDocument(config_from_dict(data), demo)
