"""Configuration flows one way: the environment reaches components only through ``App(env=...)``,
and the demo's document wraps ``Config`` instead of living inside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from app_fixtures import app_document, tiny_judges
from prometheus_client import CollectorRegistry
from taxmeter.app import App
from taxmeter.config import config_from_dict
from taxmeter.demo.config import demo_document_from_dict
from taxmeter.errors import ConfigError


@pytest.fixture(scope="module")
def judges(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_judges(tmp_path_factory.mktemp("judges"))


def _kserve_doc(judges: Path) -> dict[str, Any]:
    doc = app_document("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", judges)
    doc["judges"] = {
        **doc["judges"],
        "backend": "kserve",
        "kserve": {"target": "127.0.0.1:9", "auth": {"token_env": "TAXMETER_TEST_POOL_TOKEN"}},
    }
    return doc


def test_the_kserve_token_is_read_from_the_env_given_to_the_app_not_the_process(
    judges: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAXMETER_TEST_POOL_TOKEN", "from-the-process")
    config = config_from_dict(_kserve_doc(judges), {})
    with pytest.raises(ConfigError) as err:
        App(config, env={}, registry=CollectorRegistry(), serve_metrics=False)
    assert err.value.field == "judges.kserve.auth.token_env"
    assert "TAXMETER_TEST_POOL_TOKEN" in err.value.message

    app = App(
        config,
        env={"TAXMETER_TEST_POOL_TOKEN": "from-the-app"},
        registry=CollectorRegistry(),
        serve_metrics=False,
    )
    assert app.engine.provider("default") == "remote"


def test_the_sidecar_config_has_no_demo_section_and_the_demo_document_wraps_it(
    judges: Path,
) -> None:
    doc = app_document("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", judges)
    with pytest.raises(ConfigError) as err:
        config_from_dict({**doc, "demo": {"rate_per_s": 5}}, {})
    assert err.value.field == "demo"

    document = demo_document_from_dict(
        {**doc, "demo": {"rate_per_s": 5}}, {"TAXMETER__DEMO__SEED": "11"}
    )
    assert document.demo.rate_per_s == 5 and document.demo.seed == 11
    assert document.config == config_from_dict(doc, {})

    with pytest.raises(ConfigError) as err:
        demo_document_from_dict({**doc, "demo": {"rate_per_s": -1}})
    assert err.value.field == "demo.rate_per_s"
    with pytest.raises(ConfigError) as err:
        demo_document_from_dict({**doc, "demo": {"speling": 1}})
    assert err.value.field == "demo.speling"
