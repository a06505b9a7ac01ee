"""The configuration file: one YAML document, validated once, at load.

Each component owns the model of its own section (``ingress``, ``sampling``, ``shadow``,
``judges``, ``tax``, ``telemetry``); this module composes them, applies environment
overrides, and turns any validation error into a ``ConfigError`` that names the field. The
demo's document wraps this one (``taxmeter.demo.config.DemoDocument``): configuration flows
from here outwards, never back.

Environment overrides (for deployment): ``TAXMETER__<SECTION>__<FIELD>[__<SUBFIELD>...]=value``,
the value parsed as a YAML scalar or flow collection (``TAXMETER__SAMPLING__RATE=0.1``,
``TAXMETER__ROUTES=[chat, search]``). The environment is read here, once, and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from taxmeter.audit.config import AuditConfig
from taxmeter.errors import ConfigError
from taxmeter.ingress.config import IngressConfig
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.sampling.config import SamplingConfig
from taxmeter.shadow.config import ShadowConfig
from taxmeter.tax.config import TaxConfig
from taxmeter.telemetry.config import TelemetryConfig

ENV_PREFIX = "TAXMETER__"

M = TypeVar("M", bound=BaseModel)


class Config(BaseModel):
    """The whole configuration. See docs/configuration.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routes: list[str] = Field(
        default_factory=list,
        description="Route allowlist: only these become `route` label values; others are "
        "exported as `other`.",
    )
    categories: list[str] = Field(
        default_factory=list, description="Task-category allowlist (others become `other`)."
    )
    ingress: IngressConfig = Field(default_factory=IngressConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    shadow: ShadowConfig
    judges: JudgeEngineConfig
    tax: TaxConfig = Field(default_factory=TaxConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)

    @model_validator(mode="after")
    def _check(self) -> Config:
        for name in ("routes", "categories"):
            values: list[str] = getattr(self, name)
            for v in values:
                if not v or len(v) > 64 or not all(c.isalnum() or c in "-_./" for c in v):
                    raise ValueError(
                        f"{name}: {v!r} is not a valid label value (1-64 chars of [A-Za-z0-9-_./])"
                    )
                if v in ("other", "unknown"):
                    raise ValueError(f"{name}: {v!r} is reserved")
            if len(values) > 200:
                raise ValueError(f"{name}: at most 200 entries (series budget), got {len(values)}")
        # Rates are looked up by the exported route label: a rate for a route that is not in
        # the allowlist would be accepted and never applied.
        labels = {*self.routes, "other", self.ingress.default_route}
        for route in self.sampling.route_rates:
            if route not in labels:
                raise ValueError(
                    f"sampling.route_rates.{route}: not in `routes` (requests from routes outside "
                    "the allowlist are labelled `other`; add it to `routes` or use `other`)"
                )
        return self


def _set_path(doc: dict[str, Any], path: list[str], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value


def apply_env_overrides(doc: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Return ``doc`` with ``TAXMETER__A__B=value`` variables applied."""
    out = dict(doc)
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            value = yaml.safe_load(env[name])
        except yaml.YAMLError as exc:
            raise ConfigError(".".join(path), f"env {name}: not a YAML value ({exc})") from exc
        _set_path(out, path, value)
    return out


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts)


def config_from_dict(doc: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    return validate_model(Config, apply_env_overrides(dict(doc), env or {}))


def validate_model(model: type[M], data: Any, prefix: str = "") -> M:
    """``model.model_validate(data)``, a problem raised as ``ConfigError`` naming the field
    (under ``prefix``, e.g. ``demo``, for a section validated on its own)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(p for p in (prefix, _field_path(tuple(err["loc"]))) if p)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see docs/configuration.md)"
        elif err["type"] == "missing":
            msg = "required field is missing"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise ConfigError(field or prefix or "config", f"{msg}{more}") from None
    except ConfigError:
        raise
    except ValueError as exc:  # a validator raised with its own field-named message
        raise ConfigError(prefix or "config", str(exc)) from None


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read, override from ``env`` (default: ``os.environ``) and validate a config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError("", f"{path} is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError("", f"{path}: the top level must be a mapping of sections")
    return config_from_dict(doc, os.environ if env is None else env)
