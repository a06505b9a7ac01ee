from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SamplingConfig(BaseModel):
    """How many mirrored requests are shadowed, and what that may cost.

    A request is sampled when ``hash(salt, request_id) < rate(route) × adaptive_scale``: the
    same id gets the same decision on every replica. Sampled requests then pass the cost
    budget (shadows per second and estimated tokens per minute, token buckets shared by both
    arms) before they are queued.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(0.05, ge=0.0, le=1.0, description="Share of requests shadowed.")
    route_rates: dict[str, float] = Field(
        default_factory=dict, description="Per-route rates, overriding `rate`."
    )
    salt: str = Field("", description="Hash salt; the same on every replica of a deployment.")
    max_shadows_per_s: float = Field(20.0, gt=0.0, description="Budget: shadow jobs per second.")
    burst_shadows: float = Field(40.0, ge=1.0, description="Token-bucket depth for shadow jobs.")
    max_tokens_per_min: float = Field(
        2_000_000.0, gt=0.0, description="Budget: estimated (prompt + answer) tokens per minute."
    )
    adaptive: bool = Field(
        True, description="Lower the effective rate when workers fall behind, instead of dropping."
    )
    adaptive_high_water: float = Field(0.5, gt=0.0, le=1.0)
    adaptive_low_water: float = Field(0.1, ge=0.0, lt=1.0)
    adaptive_min_scale: float = Field(0.01, gt=0.0, le=1.0)
    adaptive_interval_s: float = Field(1.0, gt=0.0)

    @model_validator(mode="after")
    def _check(self) -> SamplingConfig:
        for route, r in self.route_rates.items():
            if not 0.0 <= r <= 1.0:
                raise ValueError(f"route_rates.{route}: must be within [0, 1], got {r}")
        if self.adaptive_low_water >= self.adaptive_high_water:
            raise ValueError("adaptive_low_water must be below adaptive_high_water")
        return self
