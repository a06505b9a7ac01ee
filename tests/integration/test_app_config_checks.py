"""Configuration the app can only check against what it loaded: the heads the statistics read
must exist, route rates must name allowlisted routes, and one category allowlist feeds both
ingress and statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from app_fixtures import app_document, tiny_judges
from prometheus_client import CollectorRegistry
from taxmeter.app import App
from taxmeter.config import config_from_dict
from taxmeter.errors import ConfigError


@pytest.fixture(scope="module")
def judges(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_judges(tmp_path_factory.mktemp("judges"))


def _doc(judges: Path, **sections: Any) -> dict[str, Any]:
    return app_document("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", judges, **sections)


def test_a_quality_head_missing_from_the_loaded_judges_stops_startup_naming_the_field(
    judges: Path,
) -> None:
    config = config_from_dict(_doc(judges, tax={"quality_heads": ["nope.quality"]}), {})
    with pytest.raises(ConfigError) as err:
        App(config, env={}, registry=CollectorRegistry(), serve_metrics=False)
    assert err.value.field == "tax.quality_heads[0]"
    assert "default.quality" in str(err.value)


def test_a_route_rate_for_a_route_outside_the_allowlist_is_rejected(judges: Path) -> None:
    doc = _doc(judges)
    doc["sampling"] = {**doc.get("sampling", {}), "route_rates": {"not-listed": 0.5}}
    with pytest.raises(ConfigError) as err:
        config_from_dict(doc, {})
    assert "sampling.route_rates.not-listed" in str(err.value)


def test_top_level_categories_reach_the_statistics(judges: Path) -> None:
    doc = _doc(judges)
    doc["categories"] = ["coding", "billing"]
    app = App(config_from_dict(doc, {}), env={}, registry=CollectorRegistry(), serve_metrics=False)
    assert list(app.aggregator.config.categories) == ["coding", "billing"]
