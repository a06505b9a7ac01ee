from __future__ import annotations

import pytest
from pydantic import ValidationError
from taxmeter.tax import TaxConfig


def test_windows_parse_to_seconds() -> None:
    assert TaxConfig().window_seconds == {"5m": 300, "1h": 3600, "24h": 86400}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"windows": ["5x"]}, "windows"),
        ({"windows": ["60m", "1h"]}, "windows"),
        ({"windows": ["30s"]}, "windows"),  # shorter than 60 slots of 1 s
        ({"alpha": 0.0}, "alpha"),
        ({"quality_heads": []}, "quality_heads"),
        ({"quality_heads": ["noqualifier"]}, "quality_heads"),
        ({"categories": ["other"]}, "categories"),
        ({"tie_epsilon": 1.5}, "tie_epsilon"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_value_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        TaxConfig(**kwargs)
    assert field in str(info.value)
