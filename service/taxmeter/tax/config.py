"""Configuration of the tax aggregator (validated once, at load)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_WINDOW_RE = re.compile(r"^([1-9][0-9]*)(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_WINDOW_S = 7 * 86400
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

HeadKeyStr = Annotated[str, Field(min_length=3, max_length=128, pattern=r"^[^.\s]+\.[^.\s]+$")]


def parse_window(text: str) -> int:
    """``"5m"`` → 300. Raises ``ValueError`` for anything else than ``<int><s|m|h|d>``."""
    match = _WINDOW_RE.match(text)
    if match is None:
        raise ValueError(f"window {text!r} is not <positive int><s|m|h|d>, e.g. '5m' or '24h'")
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds > _MAX_WINDOW_S:
        raise ValueError(f"window {text!r} is longer than 7d")
    return seconds


class TaxConfig(BaseModel):
    """The ``tax`` section of the configuration.

    ``windows`` are sliding windows kept as rings of ``window_slots`` slots each (so a window
    of W seconds has a resolution of W/window_slots; its estimate covers between
    W·(1 − 1/window_slots) and W of the most recent time). Memory per route and window is
    fixed: ``window_slots`` vectors of sufficient statistics.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows: list[str] = Field(
        default_factory=lambda: ["5m", "1h", "24h"], min_length=1, max_length=6
    )
    window_slots: int = Field(default=60, ge=10, le=1440)
    refusal_head: HeadKeyStr = "default.refusal"
    unsafe_head: HeadKeyStr = "default.unsafe"
    quality_heads: list[HeadKeyStr] = Field(
        default_factory=lambda: ["default.quality"], min_length=1, max_length=8
    )
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    tie_epsilon: float = Field(default=0.02, ge=0.0, lt=1.0)
    categories: list[str] = Field(default_factory=list, max_length=32)
    min_pairs_for_bounds: int = Field(default=2, ge=2, le=100_000)
    max_routes: int = Field(default=100, ge=1, le=10_000)

    @field_validator("windows")
    @classmethod
    def _check_windows(cls, value: list[str]) -> list[str]:
        seconds = [parse_window(w) for w in value]
        if len(set(seconds)) != len(seconds):
            raise ValueError("windows must be distinct durations")
        return value

    @field_validator("quality_heads")
    @classmethod
    def _check_heads_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("quality_heads must be distinct")
        return value

    @field_validator("categories")
    @classmethod
    def _check_categories(cls, value: list[str]) -> list[str]:
        for cat in value:
            if not _LABEL_RE.match(cat) or cat in ("other", "all"):
                raise ValueError(
                    f"category {cat!r} must match [A-Za-z0-9_.:-]{{1,64}} and not be 'other'/'all'"
                )
        if len(set(value)) != len(value):
            raise ValueError("categories must be distinct")
        return value

    @model_validator(mode="after")
    def _check_slot_width(self) -> TaxConfig:
        for w in self.windows:
            if parse_window(w) < self.window_slots:
                raise ValueError(
                    f"windows: {w!r} is shorter than window_slots={self.window_slots} seconds"
                )
        return self

    @property
    def window_seconds(self) -> dict[str, int]:
        """Window label → length in seconds, in configuration order."""
        return {w: parse_window(w) for w in self.windows}
