"""Shadow configuration: validation names the field; credentials only from env or file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from taxmeter.errors import ConfigError
from taxmeter.shadow.config import EndpointConfig, ShadowConfig
from taxmeter.shadow.endpoint import OpenAIEndpoint, read_api_key
from taxmeter.types import Arm


def _error_field(exc: ValidationError) -> str:
    return ".".join(str(p) for p in exc.errors()[0]["loc"])


def test_base_url_must_be_http_or_https() -> None:
    with pytest.raises(ValidationError) as info:
        EndpointConfig(base_url="ftp://models.internal/v1")
    assert _error_field(info.value) == "base_url"


def test_base_url_trailing_slash_is_removed_and_chat_url_appended() -> None:
    cfg = EndpointConfig(base_url="http://vllm:8000/v1/")
    assert cfg.chat_url == "http://vllm:8000/v1/chat/completions"


def test_credential_header_in_config_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        EndpointConfig(base_url="http://a/v1", headers={"Authorization": "Bearer sk-x"})
    assert _error_field(info.value) == "headers"
    assert "api_key_env" in str(info.value)


def test_messages_cannot_be_overridden_or_stripped() -> None:
    with pytest.raises(ValidationError) as info:
        EndpointConfig(base_url="http://a/v1", overrides={"messages": []})
    assert _error_field(info.value) == "overrides"
    with pytest.raises(ValidationError) as info:
        EndpointConfig(base_url="http://a/v1", strip=["stream"])
    assert _error_field(info.value) == "strip"


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        EndpointConfig(base_url="http://a/v1", api_key="sk-in-config")  # type: ignore[call-arg]
    assert _error_field(info.value) == "api_key"


def test_queue_size_must_be_positive() -> None:
    arm = EndpointConfig(base_url="http://a/v1")
    with pytest.raises(ValidationError) as info:
        ShadowConfig(guarded=arm, unguarded=arm, queue_size=0)
    assert _error_field(info.value) == "queue_size"


def test_api_key_is_read_from_the_named_environment_variable() -> None:
    cfg = EndpointConfig(base_url="http://a/v1", api_key_env="GUARD_KEY")
    assert read_api_key(cfg, "shadow.guarded", {"GUARD_KEY": " sk-1 \n"}) == "sk-1"


def test_missing_api_key_env_is_a_config_error_naming_the_field() -> None:
    cfg = EndpointConfig(base_url="http://a/v1", api_key_env="GUARD_KEY")
    with pytest.raises(ConfigError) as info:
        OpenAIEndpoint(Arm.GUARDED, cfg, environ={})
    assert info.value.field == "shadow.guarded.api_key_env"
    assert "GUARD_KEY" in info.value.message


def test_api_key_file_is_read_and_a_missing_file_names_the_field(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-file\n")
    cfg = EndpointConfig(base_url="http://a/v1", api_key_file=key_file)
    assert read_api_key(cfg, "shadow.unguarded") == "sk-file"
    missing = EndpointConfig(base_url="http://a/v1", api_key_file=tmp_path / "nope")
    with pytest.raises(ConfigError) as info:
        read_api_key(missing, "shadow.unguarded")
    assert info.value.field == "shadow.unguarded.api_key_file"


def test_both_key_sources_at_once_are_rejected() -> None:
    with pytest.raises(ValidationError):
        EndpointConfig(base_url="http://a/v1", api_key_env="K", api_key_file=Path("/k"))
