"""The judge manifest (``manifest.yaml``): inputs, heads, transforms and calibration.

A manifest says how to feed a judge graph (``input``/``inputs``) and how its output tensors map
to scores in [0, 1] (``heads``): ``calibrate(transform(output[..., index]))``, then a decision
``score >= threshold``. ``validate_against_model`` checks it against the tensors the backend
reports after loading; any mismatch raises ``JudgeLoadError`` naming the judge and the tensor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from taxmeter.errors import JudgeLoadError
from taxmeter.judges.backend import TensorSpec

__all__ = [
    "INPUT_ROLES",
    "VARIANT_PRECISION",
    "EmbeddingSpec",
    "HeadSpec",
    "InputSpec",
    "IsotonicCalibration",
    "JudgeManifest",
    "NoCalibration",
    "PlattCalibration",
    "VariantName",
    "load_manifest",
    "resolve_input_names",
    "validate_against_model",
]

InputKind = Literal["response", "pair", "dual"]
VariantName = Literal["fp16", "opt", "opt_fp16", "int8"]
"""Alternative graphs of one judge (same inputs and outputs as ``model``): ``fp16`` (half
precision encoder), ``opt`` (ONNX Runtime's transformer optimizer: fused Attention,
SkipLayerNormalization, BiasGelu; fp32), ``opt_fp16`` (the same, encoder in fp16, for CUDA) and
``int8`` (dynamic int8 quantization of the fp32 graph, for the CPU). See docs/judges.md."""
VARIANT_PRECISION: Mapping[str, str] = {
    "plain": "fp32",
    "fp16": "fp16",
    "opt": "fp32",
    "opt_fp16": "fp16",
    "int8": "int8",
}
"""Precision of each variant (``plain`` is ``model`` itself)."""
HeadRole = Literal["refusal", "unsafe", "quality", "other"]

INPUT_ROLES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required roles, optional roles)
    "response": (("input_ids", "attention_mask"), ("token_type_ids",)),
    "pair": (("input_ids", "attention_mask"), ("token_type_ids",)),
    "dual": (
        (
            "prompt_input_ids",
            "prompt_attention_mask",
            "response_input_ids",
            "response_attention_mask",
        ),
        ("prompt_token_type_ids", "response_token_type_ids"),
    ),
}
"""Graph input roles per input kind: (required, optional)."""

_EPS = 1e-7
_FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NoCalibration(_Frozen):
    method: Literal["none"] = "none"

    def apply(self, p: np.ndarray) -> np.ndarray:
        return p


class PlattCalibration(_Frozen):
    """``p = sigmoid(a * logit(x) + b)``."""

    method: Literal["platt"]
    a: float = 1.0
    b: float = 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        x = np.clip(p, _EPS, 1.0 - _EPS)
        z = self.a * np.log(x / (1.0 - x)) + self.b
        return _sigmoid(z)


class IsotonicCalibration(_Frozen):
    """Piecewise-linear map through the points (x, y); x increasing, y non-decreasing in [0, 1]."""

    method: Literal["isotonic"]
    x: list[float] = Field(min_length=2)
    y: list[float] = Field(min_length=2)

    @model_validator(mode="after")
    def _check_points(self) -> IsotonicCalibration:
        if len(self.x) != len(self.y):
            raise ValueError("x and y must have the same length")
        if any(b <= a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("x must be strictly increasing")
        if any(b < a for a, b in zip(self.y, self.y[1:], strict=False)):
            raise ValueError("y must be non-decreasing")
        if any(v < 0.0 or v > 1.0 for v in self.y):
            raise ValueError("y values must lie in [0, 1]")
        return self

    def apply(self, p: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.interp(p, np.asarray(self.x), np.asarray(self.y))
        return out


Calibration = Annotated[
    NoCalibration | PlattCalibration | IsotonicCalibration, Field(discriminator="method")
]


class HeadSpec(_Frozen):
    """One score read from one output tensor."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    role: HeadRole = "other"
    output: str = Field(min_length=1)
    index: int | None = Field(default=None, ge=0)
    """Index on the last axis; ``None`` when the output is ``[batch]`` or ``[batch, 1]``."""
    transform: Literal["sigmoid", "softmax", "raw"] = "sigmoid"
    softmax_index: int | None = Field(default=None, ge=0)
    range: tuple[float, float] | None = None
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    calibration: Calibration = Field(default_factory=NoCalibration)

    @model_validator(mode="after")
    def _check_transform(self) -> HeadSpec:
        if self.transform == "softmax" and self.softmax_index is None:
            raise ValueError("transform 'softmax' needs softmax_index (the class to score)")
        if self.transform != "softmax" and self.softmax_index is not None:
            raise ValueError("softmax_index is only valid with transform 'softmax'")
        if self.transform == "raw":
            if self.range is None:
                raise ValueError("transform 'raw' needs range: [lo, hi]")
            if not self.range[1] > self.range[0]:
                raise ValueError("range must be [lo, hi] with hi > lo")
        elif self.range is not None:
            raise ValueError("range is only valid with transform 'raw'")
        return self

    def scores(self, output: np.ndarray) -> np.ndarray:
        """Calibrated scores in [0, 1], one per batch row, from the head's output tensor."""
        x = np.asarray(output, dtype=np.float64)
        if self.transform == "softmax":
            if x.ndim != 2:
                raise ValueError(f"softmax head {self.name!r} needs a [batch, classes] output")
            z = x - x.max(axis=-1, keepdims=True)
            e = np.exp(z)
            p = (e / e.sum(axis=-1, keepdims=True))[:, self.softmax_index]
        else:
            col = _column(x, self.index)
            if self.transform == "sigmoid":
                p = _sigmoid(col)
            else:
                assert self.range is not None
                lo, hi = self.range
                p = (np.clip(col, lo, hi) - lo) / (hi - lo)
        out: np.ndarray = np.clip(self.calibration.apply(p), 0.0, 1.0)
        return out


class InputSpec(_Frozen):
    kind: InputKind
    max_length: int = Field(default=256, ge=8, le=8192)


class EmbeddingSpec(_Frozen):
    output: str = Field(min_length=1)


class JudgeManifest(_Frozen):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_\-]+$")
    version: str = "1"
    description: str = ""
    model: str = "model.onnx"
    variants: dict[VariantName, str] = Field(default_factory=dict)
    provider_variants: dict[Literal["cpu", "cuda"], VariantName | Literal["plain"]] = Field(
        default_factory=dict
    )
    """The variant each provider runs when the engine's ``variant`` is ``auto`` (written by
    ``taxmeter judges optimize`` from its measurements); a provider not listed runs ``model``
    (or ``fp16`` on CUDA, by ``precision``)."""
    tokenizer: str = "tokenizer.json"
    input: InputSpec
    inputs: dict[str, str] | None = None
    """Graph input names by role; ``None`` means each role's graph input has the role's name."""
    heads: list[HeadSpec] = Field(min_length=1)
    embedding: EmbeddingSpec | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) else v

    @model_validator(mode="after")
    def _check_roles_and_heads(self) -> JudgeManifest:
        required, optional = INPUT_ROLES[self.input.kind]
        if self.inputs is not None:
            unknown = sorted(set(self.inputs) - set(required) - set(optional))
            if unknown:
                raise ValueError(
                    f"inputs: role(s) {unknown} are not valid for input kind "
                    f"{self.input.kind!r} (valid: {[*required, *optional]})"
                )
            missing = [r for r in required if r not in self.inputs]
            if missing:
                raise ValueError(f"inputs: kind {self.input.kind!r} needs role(s) {missing}")
        unknown_variants = sorted(
            f"{p}: {v}"
            for p, v in self.provider_variants.items()
            if v != "plain" and v not in self.variants
        )
        if unknown_variants:
            raise ValueError(
                f"provider_variants: {unknown_variants} name(s) a variant that variants does "
                f"not list (variants: {sorted(self.variants)})"
            )
        names = [h.name for h in self.heads]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"heads: duplicate head name(s) {dupes}")
        return self


def load_manifest(judge_dir: Path) -> JudgeManifest:
    """Read and validate ``<judge_dir>/manifest.yaml``; the judge is named after the folder."""
    judge = judge_dir.name
    path = judge_dir / "manifest.yaml"
    if not path.is_file():
        raise JudgeLoadError(judge, f"no manifest.yaml in {judge_dir}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise JudgeLoadError(judge, f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise JudgeLoadError(judge, f"{path} must hold a mapping, got {type(raw).__name__}")
    try:
        manifest = JudgeManifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise JudgeLoadError(judge, f"invalid manifest {path}: {problems}") from exc
    if manifest.name != judge:
        raise JudgeLoadError(
            judge, f"manifest name {manifest.name!r} must equal the folder name {judge!r}"
        )
    return manifest


def resolve_input_names(
    manifest: JudgeManifest, graph_inputs: Sequence[TensorSpec]
) -> dict[str, str]:
    """Map each role to its graph input name, with optional roles kept only if the graph has
    them. Raises ``JudgeLoadError`` naming a missing or unfed graph input."""
    judge = manifest.name
    required, optional = INPUT_ROLES[manifest.input.kind]
    graph_names = {spec.name for spec in graph_inputs}
    mapping = dict(manifest.inputs) if manifest.inputs is not None else {}
    resolved: dict[str, str] = {}
    for role in required:
        name = mapping.get(role, role)
        if name not in graph_names:
            raise JudgeLoadError(
                judge,
                f"input role {role!r} names graph input {name!r}, which the model does not "
                f"have (model inputs: {sorted(graph_names)})",
            )
        resolved[role] = name
    for role in optional:
        if role in mapping:
            name = mapping[role]
            if name not in graph_names:
                raise JudgeLoadError(
                    judge,
                    f"input role {role!r} names graph input {name!r}, which the model does "
                    f"not have (model inputs: {sorted(graph_names)})",
                )
            resolved[role] = name
        elif role in graph_names:
            resolved[role] = role
    unfed = sorted(graph_names - set(resolved.values()))
    if unfed:
        raise JudgeLoadError(
            judge, f"model input(s) {unfed} are not named by any input role in the manifest"
        )
    return resolved


def validate_against_model(
    manifest: JudgeManifest,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
) -> dict[str, str]:
    """Check the manifest against the model's real tensors; return the role → input mapping.

    Inputs must be int64 ``[batch, seq]``; head outputs must exist, be floating point, and be
    ``[batch, n]`` with ``index < n`` (or ``[batch]``/``[batch, 1]`` when ``index`` is omitted);
    the embedding output must be a floating ``[batch, dim]`` tensor.
    """
    judge = manifest.name
    resolved = resolve_input_names(manifest, inputs)
    by_name_in = {spec.name: spec for spec in inputs}
    for name in resolved.values():
        spec = by_name_in[name]
        if spec.dtype != "int64":
            raise JudgeLoadError(judge, f"model input {name!r} is {spec.dtype}, expected int64")
        if len(spec.shape) != 2:
            raise JudgeLoadError(
                judge, f"model input {name!r} has shape {spec.shape}, expected [batch, seq]"
            )
    by_name_out = {spec.name: spec for spec in outputs}
    for head in manifest.heads:
        out = by_name_out.get(head.output)
        if out is None:
            raise JudgeLoadError(
                judge,
                f"head {head.name!r} reads output {head.output!r}, which the model does not "
                f"have (model outputs: {sorted(by_name_out)})",
            )
        _check_head_output(judge, head, out)
    if manifest.embedding is not None:
        out = by_name_out.get(manifest.embedding.output)
        if out is None:
            raise JudgeLoadError(
                judge,
                f"embedding output {manifest.embedding.output!r} is not a model output "
                f"(model outputs: {sorted(by_name_out)})",
            )
        if out.dtype not in _FLOAT_DTYPES or len(out.shape) != 2:
            raise JudgeLoadError(
                judge,
                f"embedding output {out.name!r} is {out.dtype}{list(out.shape)}, "
                "expected a floating [batch, dim] tensor",
            )
    return resolved


def _check_head_output(judge: str, head: HeadSpec, out: TensorSpec) -> None:
    where = f"head {head.name!r}: output {out.name!r}"
    if out.dtype not in _FLOAT_DTYPES:
        raise JudgeLoadError(judge, f"{where} is {out.dtype}, expected a floating-point tensor")
    shape = out.shape
    if head.transform == "softmax":
        if len(shape) != 2:
            raise JudgeLoadError(judge, f"{where} has shape {list(shape)}, softmax needs 2 axes")
        n = shape[-1]
        if n is not None and head.softmax_index is not None and head.softmax_index >= n:
            raise JudgeLoadError(
                judge,
                f"{where} has {n} classes, softmax_index {head.softmax_index} is out of range",
            )
        return
    if head.index is None:
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] in (1, None))):
            raise JudgeLoadError(
                judge,
                f"{where} has shape {list(shape)}; give an index, or use a [batch] / "
                "[batch, 1] output",
            )
        return
    if len(shape) != 2:
        raise JudgeLoadError(judge, f"{where} has shape {list(shape)}, expected [batch, n]")
    n = shape[-1]
    if n is not None and head.index >= n:
        raise JudgeLoadError(judge, f"{where} has {n} columns, index {head.index} is out of range")


def _column(x: np.ndarray, index: int | None) -> np.ndarray:
    if index is None:
        return x.reshape(x.shape[0]) if x.ndim == 2 else x
    return x[:, index]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out
