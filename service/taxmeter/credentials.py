"""Secrets (API keys, bearer tokens): one reader for every component that sends credentials.

A secret never lives in the configuration file: the config names where it is, an environment
variable (``*_env``) or a mounted file (``*_file``), and ``load_secret`` reads it at startup
from the environment mapping that ``app.py`` passes in (never ``os.environ`` directly). A
missing or empty source is a ``ConfigError`` naming the config field.

Callers hold a ``Secret`` and ask it for ``value()`` when they build a request, so that a
rotating implementation (a file re-read when it changes) can replace ``StaticSecret`` without
touching them; ``load_secret`` gives a file-based secret that is re-read when the file changes
(rotation without a restart). Used by the shadow endpoints and the LLM auditor
(``api_key_env``/``api_key_file``) and the remote judge backend
(``auth.token_env``/``auth.token_file``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from taxmeter.errors import ConfigError

__all__ = ["Secret", "SecretSource", "StaticSecret", "load_secret", "read_secret"]


class Secret(Protocol):
    """A credential's current value (what to send now)."""

    def value(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SecretSource:
    """Where a secret is: an env var name or a file (at most one), and the config fields that
    named them (for errors: ``shadow.guarded.api_key_env``)."""

    env: str | None = None
    file: Path | None = None
    env_field: str = ""
    file_field: str = ""

    def __post_init__(self) -> None:
        if self.env is not None and self.file is not None:
            raise ValueError("a secret comes from an env var or a file, not both")

    @property
    def configured(self) -> bool:
        return self.env is not None or self.file is not None


class StaticSecret:
    """A secret read once (at startup)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def value(self) -> str:
        return self._value

    def __repr__(self) -> str:  # never the value
        return "StaticSecret(***)"


def read_secret(source: SecretSource, environ: Mapping[str, str]) -> str | None:
    """The secret's value now, stripped; ``None`` when no source is configured. Raises
    ``ConfigError`` naming the field when the variable is unset/empty or the file unreadable
    or empty."""
    if source.env is not None:
        value = environ.get(source.env, "").strip()
        if not value:
            raise ConfigError(
                source.env_field, f"environment variable {source.env} is not set or empty"
            )
        return value
    if source.file is not None:
        try:
            value = source.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                source.file_field, f"cannot read {source.file}: {exc.strerror or exc}"
            ) from None
        if not value:
            raise ConfigError(source.file_field, f"{source.file} is empty")
        return value
    return None


def load_secret(source: SecretSource, environ: Mapping[str, str]) -> Secret | None:
    """``read_secret`` wrapped as a ``Secret`` (``None`` when no source is configured): a file
    is re-read when it changes (Kubernetes secret rotation; a broken rotation keeps the last
    good value, ``taxmeter.rotation``), an env var is read once."""
    value = read_secret(source, environ)  # startup errors name the field
    if value is None:
        return None
    if source.file is not None:
        from taxmeter.rotation import RotatingFileSecret

        return RotatingFileSecret(
            source.file_field or "secret", source.file, field=source.file_field
        )
    return StaticSecret(value)
