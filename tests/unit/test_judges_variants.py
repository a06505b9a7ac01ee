"""Which graph of a judge runs: the engine's ``variant``/``precision`` against the manifest's
``variants`` and ``provider_variants`` (pure logic), and their validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from judges_fixtures import default_manifest
from pydantic import ValidationError
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.manifest import JudgeManifest
from taxmeter.judges.onnx_backend import choose_variant

ALL = ("fp16", "opt", "opt_fp16", "int8")


def cfg(**kw: Any) -> JudgeEngineConfig:
    return JudgeEngineConfig(repository=Path("/nowhere"), **kw)


@pytest.mark.parametrize(
    ("kw", "provider", "available", "chosen", "expected"),
    [
        # auto: the manifest's choice for the provider the session lands on
        ({}, "cpu", ALL, {"cpu": "opt", "cuda": "opt_fp16"}, "opt"),
        ({}, "cuda", ALL, {"cpu": "opt", "cuda": "opt_fp16"}, "opt_fp16"),
        ({}, "cpu", ALL, {"cpu": "int8"}, "int8"),
        # no choice recorded: the old rules (fp16 on CUDA when there is one)
        ({}, "cpu", ("fp16",), {}, "plain"),
        ({}, "cuda", ("fp16",), {}, "fp16"),
        ({}, "cuda", ("opt",), {"cpu": "opt"}, "plain"),
        # precision fp32 never runs a half or int8 graph, but takes the fused fp32 one
        ({"precision": "fp32"}, "cuda", ALL, {"cuda": "opt_fp16"}, "opt"),
        ({"precision": "fp32"}, "cpu", ALL, {"cpu": "int8"}, "opt"),
        ({"precision": "fp32"}, "cpu", ("fp16",), {}, "plain"),
        # precision fp16: the fused fp16 graph first
        ({"precision": "fp16"}, "cpu", ALL, {}, "opt_fp16"),
        ({"precision": "fp16"}, "cpu", ("fp16",), {}, "fp16"),
        # an explicit variant wins over the manifest's choice
        ({"variant": "plain"}, "cpu", ALL, {"cpu": "int8"}, "plain"),
        ({"variant": "int8"}, "cuda", ALL, {"cuda": "opt_fp16"}, "int8"),
    ],
)
def test_choose_variant(
    kw: dict[str, Any],
    provider: str,
    available: tuple[str, ...],
    chosen: dict[str, str],
    expected: str,
) -> None:
    assert choose_variant(cfg(**kw), provider, available, chosen) == expected


def test_a_configured_variant_the_judge_lacks_is_named() -> None:
    with pytest.raises(LookupError, match=r"variant 'int8' is configured.*\['opt'\]"):
        choose_variant(cfg(variant="int8"), "cpu", ("opt",), {})
    with pytest.raises(LookupError, match="no fp16 variant"):
        choose_variant(cfg(precision="fp16"), "cpu", ("opt", "int8"), {})


def test_variant_and_precision_together_are_a_config_error() -> None:
    with pytest.raises(ValidationError, match="variant 'int8' and precision 'fp32'"):
        cfg(variant="int8", precision="fp32")
    with pytest.raises(ValidationError, match="variant"):
        cfg(variant="bf16")


def test_manifest_provider_variants_must_name_a_listed_variant() -> None:
    raw = default_manifest(variants={"opt": "model.opt.onnx"}, provider_variants={"cpu": "int8"})
    with pytest.raises(ValidationError, match=r"provider_variants.*cpu: int8.*\['opt'\]"):
        JudgeManifest.model_validate(raw)
    ok = default_manifest(
        variants={"opt": "model.opt.onnx"}, provider_variants={"cpu": "opt", "cuda": "plain"}
    )
    assert JudgeManifest.model_validate(ok).provider_variants == {"cpu": "opt", "cuda": "plain"}
    with pytest.raises(ValidationError, match="variants"):
        JudgeManifest.model_validate(default_manifest(variants={"bf16": "x.onnx"}))
