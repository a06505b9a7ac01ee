"""``taxmeter judges optimize DIR [--judge NAME]``: faster variants of a judge's graph, checked
against the plain graph (the graph transforms themselves: ``judgetools/fusion.py``; the
comparison: ``judgetools/parity.py``).

For each judge folder, from its plain fp32 ``model`` (kept as the reference):

- ``opt`` (``model.opt.onnx``): ONNX Runtime's transformer optimizer (``model_type="bert"``)
  with fused ``Attention``, ``SkipLayerNormalization`` and ``BiasGelu``. Before it runs, two
  equivalent rewrites put our builder's encoder into the shape the optimizer's BERT patterns
  expect (see :func:`canonicalise_for_fusion`). fp32, for the CPU.
- ``opt_fp16`` (``model.opt.fp16.onnx``): the same graph with the encoder in float16 and
  everything after it (pooling, normalisation, features, heads) kept in float32, inputs and
  outputs unchanged. For CUDA.
- ``int8`` (``model.int8.onnx``): ``quantize_dynamic`` of the ``opt`` graph's encoder
  (``MatMul`` and ``Attention`` weights in int8; embeddings and heads stay fp32). For the CPU.

Every variant is run next to the plain graph on :data:`PARITY_TEXTS` through the judge's own
tokenizer and heads: ``opt`` must match within :data:`OPT_MAX_ABS` / :data:`OPT_MIN_COSINE`
or nothing is written; ``opt_fp16`` is checked on CUDA when this machine has it (looser:
:data:`FP16_MAX_ABS`), else on the CPU EP (the conversion, not CUDA's kernels); the ``int8``
cost (score differences, decisions that flip) is reported. The manifest gets the
``variants`` and ``provider_variants`` (which variant each provider runs by default: ``cpu``
→ ``opt``; ``cuda`` → ``opt_fp16`` only when its parity was checked on CUDA here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import onnx
import yaml

from taxmeter.judges.manifest import JudgeManifest, load_manifest
from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer
from taxmeter.judgetools.fusion import fp16_encoder, fused_graph, quantize_int8
from taxmeter.judgetools.parity import (
    PARITY_TEXTS,
    Parity,
    compare_outputs,
    cuda_available,
    ort_session,
    run_parity,
)
from taxmeter.types import JudgeInput

__all__ = [
    "FP16_MAX_ABS",
    "OPT_MAX_ABS",
    "OPT_MIN_COSINE",
    "PARITY_TEXTS",
    "VARIANT_FILES",
    "OptimizeError",
    "OptimizeReport",
    "Parity",
    "compare_outputs",
    "optimize_judge",
    "optimize_repository",
    "register",
]

VARIANT_FILES: Mapping[str, str] = {
    "opt": "model.opt.onnx",
    "opt_fp16": "model.opt.fp16.onnx",
    "int8": "model.int8.onnx",
}
OPT_MAX_ABS = 1e-3
"""Largest difference allowed between a plain and an ``opt`` output value (logits, embedding)."""
OPT_MIN_COSINE = 0.99999
"""Smallest cosine allowed between a plain and an ``opt`` output row."""
FP16_MAX_ABS = 0.05
FP16_MIN_COSINE = 0.999


class OptimizeError(Exception):
    """A judge could not be optimised (names the judge and why)."""


@dataclass(slots=True)
class OptimizeReport:
    judge: str
    fused: dict[str, int] = field(default_factory=dict)
    rewrites: dict[str, int] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)
    parity: dict[str, Parity] = field(default_factory=dict)
    provider_variants: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        fused = ", ".join(f"{k} {v}" for k, v in self.fused.items() if v) or "nothing"
        lines = [f"judge {self.judge}: fused {fused}"]
        for name, file in self.variants.items():
            p = self.parity.get(name)
            lines.append(f"  {name}: {file}" + (f" ({p.summary()})" if p else " (not checked)"))
        chosen = ", ".join(f"{k} -> {v}" for k, v in self.provider_variants.items())
        lines.append(f"  provider_variants: {chosen or 'none'}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return lines


# -- judges -----------------------------------------------------------------------------------


def optimize_judge(
    judge_dir: Path,
    *,
    fp16: bool = True,
    int8: bool = True,
    cpu_variant: Literal["opt", "int8", "plain"] = "opt",
    texts: Sequence[JudgeInput] = PARITY_TEXTS,
) -> OptimizeReport:
    """Write the variants of one judge folder next to its plain ``model``, check them against
    it, and record them in its ``manifest.yaml``. Raises :class:`OptimizeError`."""
    manifest = load_manifest_or_fail(judge_dir)
    judge = manifest.name
    report = OptimizeReport(judge)
    source = judge_dir / manifest.model
    try:
        plain = onnx.load(str(source))
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError...
        raise OptimizeError(f"judge {judge!r}: cannot read {source}: {exc}") from exc
    if any(i.data_type == onnx.TensorProto.FLOAT16 for i in plain.graph.initializer):
        raise OptimizeError(f"judge {judge!r}: {manifest.model} is not an fp32 graph")
    tokenizer = JudgeTokenizer(
        load_tokenizer(judge, judge_dir / manifest.tokenizer),
        kind=manifest.input.kind,
        max_length=manifest.input.max_length,
    )
    opt, report.fused, report.rewrites = fused_graph(plain)
    reference = ort_session(source, "cpu")
    if not any(report.fused.get(op) for op in ("Attention", "MultiHeadAttention")):
        report.notes.append(
            "attention was not fused (the graph's attention does not match "
            "the optimizer's BERT patterns); opt still fuses what it can"
        )
    opt_bytes = opt.SerializeToString()
    parity = run_parity(manifest, tokenizer, reference, ort_session(opt_bytes, "cpu"), texts)
    if parity.max_abs > OPT_MAX_ABS or parity.min_cosine < OPT_MIN_COSINE:
        raise OptimizeError(
            f"judge {judge!r}: the optimised graph differs from the plain one "
            f"({parity.summary()}; allowed: |diff| <= {OPT_MAX_ABS}, cosine >= "
            f"{OPT_MIN_COSINE}); nothing written"
        )
    written: dict[str, str] = {}
    (judge_dir / VARIANT_FILES["opt"]).write_bytes(opt_bytes)
    written["opt"] = VARIANT_FILES["opt"]
    report.parity["opt"] = parity
    chosen: dict[str, str] = {"cpu": "opt"}
    if fp16:
        chosen.update(_write_fp16(judge_dir, opt, manifest, tokenizer, texts, report, written))
    if int8:
        quantize_int8(judge_dir / VARIANT_FILES["opt"], judge_dir / VARIANT_FILES["int8"])
        written["int8"] = VARIANT_FILES["int8"]
        report.parity["int8"] = run_parity(
            manifest,
            tokenizer,
            reference,
            ort_session(judge_dir / VARIANT_FILES["int8"], "cpu"),
            texts,
        )
    if cpu_variant != "opt":
        if cpu_variant != "plain" and cpu_variant not in written:
            raise OptimizeError(f"judge {judge!r}: cpu variant {cpu_variant!r} was not written")
        chosen["cpu"] = cpu_variant
    report.variants = written
    report.provider_variants = chosen
    _update_manifest(judge_dir, written, chosen)
    load_manifest(judge_dir)  # the result still validates
    return report


def _write_fp16(
    judge_dir: Path,
    opt: onnx.ModelProto,
    manifest: JudgeManifest,
    tokenizer: JudgeTokenizer,
    texts: Sequence[JudgeInput],
    report: OptimizeReport,
    written: dict[str, str],
) -> dict[str, str]:
    half = fp16_encoder(opt).SerializeToString()
    (judge_dir / VARIANT_FILES["opt_fp16"]).write_bytes(half)
    written["opt_fp16"] = VARIANT_FILES["opt_fp16"]
    if not cuda_available():
        # the conversion is checked on the CPU EP (ONNX Runtime runs these fp16 ops there);
        # CUDA's kernels are not, so CUDA keeps its previous choice
        report.parity["opt_fp16"] = run_parity(
            manifest,
            tokenizer,
            ort_session(judge_dir / manifest.model, "cpu"),
            ort_session(half, "cpu"),
            texts,
        )
        report.notes.append(
            "opt_fp16 checked on the CPU only (no usable CUDA here): not "
            "picked for cuda; choose it with `judges.variant: opt_fp16`"
        )
        return {}
    cuda_ref = ort_session(judge_dir / manifest.model, "cuda")
    parity = run_parity(manifest, tokenizer, cuda_ref, ort_session(half, "cuda"), texts)
    report.parity["opt_fp16"] = parity
    if parity.max_abs > FP16_MAX_ABS or parity.min_cosine < FP16_MIN_COSINE:
        report.notes.append(
            f"opt_fp16 is not close enough to fp32 on CUDA ({parity.summary()})"
            ": not picked for cuda"
        )
        return {}
    return {"cuda": "opt_fp16"}


def load_manifest_or_fail(judge_dir: Path) -> JudgeManifest:
    from taxmeter.errors import JudgeLoadError

    try:
        return load_manifest(judge_dir)
    except JudgeLoadError as exc:
        raise OptimizeError(str(exc)) from exc


def _update_manifest(
    judge_dir: Path, variants: Mapping[str, str], chosen: Mapping[str, str]
) -> None:
    path = judge_dir / "manifest.yaml"
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    merged = dict(raw.get("variants") or {})
    merged.update(variants)
    raw["variants"] = merged
    provider_variants = dict(raw.get("provider_variants") or {})
    provider_variants.update(chosen)
    raw["provider_variants"] = provider_variants
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    tmp.replace(path)


def optimize_repository(
    repo: Path, judge: str | None = None, **options: Any
) -> list[OptimizeReport]:
    """:func:`optimize_judge` for every judge folder of ``repo`` (or the one named)."""
    if not repo.is_dir():
        raise OptimizeError(f"judge repository {repo} does not exist or is not a folder")
    found = sorted(p.name for p in repo.iterdir() if (p / "manifest.yaml").is_file())
    if judge is not None:
        if judge not in found:
            raise OptimizeError(f"judge {judge!r} not found in {repo} (found: {found})")
        found = [judge]
    if not found:
        raise OptimizeError(f"judge repository {repo} holds no judge folder")
    return [optimize_judge(repo / name, **options) for name in found]


# -- command line -----------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``optimize`` to the ``taxmeter judges`` command group."""
    p = subparsers.add_parser(
        "optimize",
        help="write optimised variants of each judge (fused fp32, fp16, int8), checked "
        "against the plain graph",
        description=(
            "For each judge of DIR (or --judge NAME): run ONNX Runtime's transformer optimizer "
            "on model.onnx and write model.opt.onnx (fused Attention, SkipLayerNormalization, "
            "BiasGelu), model.opt.fp16.onnx (encoder in fp16, for CUDA) and model.int8.onnx "
            "(dynamic int8, for the CPU); compare each with the plain graph on fixed texts; "
            "record them in manifest.yaml (variants, provider_variants). The plain model.onnx "
            "stays the reference."
        ),
    )
    p.add_argument("dir", metavar="DIR", type=Path, help="judge repository")
    p.add_argument("--judge", metavar="NAME", help="only this judge (default: all)")
    p.add_argument(
        "--no-fp16", dest="fp16", action="store_false", help="do not write model.opt.fp16.onnx"
    )
    p.add_argument(
        "--no-int8", dest="int8", action="store_false", help="do not write model.int8.onnx"
    )
    p.add_argument(
        "--cpu-variant",
        choices=["opt", "int8", "plain"],
        default="opt",
        help="the variant the CPU runs by default (provider_variants.cpu; "
        "default opt: same results as the plain graph)",
    )
    p.set_defaults(func=_cmd_optimize)


def _cmd_optimize(args: Any) -> int:
    import sys

    if args.cpu_variant == "int8" and not args.int8:
        print("error: --cpu-variant int8 needs the int8 variant (drop --no-int8)", file=sys.stderr)
        return 2
    try:
        reports = optimize_repository(
            args.dir, args.judge, fp16=args.fp16, int8=args.int8, cpu_variant=args.cpu_variant
        )
    except OptimizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        print("\n".join(report.summary_lines()))
    return 0
