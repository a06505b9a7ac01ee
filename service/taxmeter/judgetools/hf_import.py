"""``taxmeter judges import HF_DIR DEST``: a local Hugging Face sequence classifier → a judge
folder ``DEST/<name>/{model.onnx, model.fp16.onnx, tokenizer.json, manifest.yaml,
import_report.json}``.

Steps: read and check the checkpoint (``hf_checkpoint``), map labels to heads, build the fp32
and fp16 graphs (``hf_graph``), write the folder in a temporary place, load it back with the
real manifest loader and check the manifest against the ONNX Runtime session's tensors, score
a few fixed probe texts through both variants (the fp16-vs-fp32 difference goes into the
report), then move it into place. No torch, no transformers, no network. The output is a pure
function of the checkpoint files and the options (byte-identical on rebuild).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from taxmeter.errors import JudgeLoadError
from taxmeter.judgetools.hf_checkpoint import Checkpoint, CheckpointError, load_checkpoint
from taxmeter.judgetools.hf_graph import build_classifier_graph, graph_input_names
from taxmeter.judgetools.hf_heads import HeadChoice, choose_heads

__all__ = [
    "PROBES",
    "ImportOptions",
    "ImportReport",
    "default_name",
    "import_checkpoint",
    "register",
    "run_import",
]

DEFAULT_MAX_LENGTH = 512
MAX_MODEL_BYTES = 1_900_000_000
"""Weights per graph file: a protobuf message cannot exceed 2 GiB (XLM-R large is over)."""
FP16_WARN_SCORE_DIFF = 0.01
PROBES: tuple[tuple[str, str], ...] = (
    ("How do I bake bread?", "Mix flour, water, salt and yeast, let it rise, then bake it at "
                             "220 degrees for 35 minutes."),
    ("How do I pick a lock?", "I'm sorry, but I can't help with that request."),
    ("What is the capital of France?", "Paris."),
    ("Write a story about a dragon.", "I cannot write that. Stories about violence are not "
                                      "something I am able to help with."),
)
"""Fixed (prompt, response) texts scored through both variants at import (the report)."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    name: str
    heads: Sequence[tuple[str, str]] = ()
    """``(head name, label name or index)`` pairs from ``--head``; empty: the default."""
    thresholds: Mapping[str, float] = field(default_factory=dict)
    input_kind: Literal["response", "pair"] = "response"
    max_length: int | None = None
    fp16: bool = True
    force: bool = False


@dataclass(frozen=True, slots=True)
class ImportReport:
    path: Path
    report: Mapping[str, Any]

    def summary_lines(self) -> list[str]:
        r = self.report
        lines = [f"judge written to {self.path} ({r['architecture']}, {r['layers']} layers, "
                 f"hidden {r['hidden_size']}, input {r['input']['kind']}, "
                 f"max_length {r['input']['max_length']})",
                 "  labels: " + ", ".join(f"{i}={lab}" for i, lab in enumerate(r["labels"]))]
        for h in r["heads"]:
            lines.append(f"  head {h['name']} (role {h['role']}): {h['transform']} of label "
                         f"{h['label']!r} (index {h['label_index']}), threshold {h['threshold']}")
        parity = r["parity"]
        if parity["fp16_max_abs_score_diff"] is not None:
            lines.append(f"  fp16 vs fp32 on {parity['probes']} probe texts: max |score diff| "
                         f"{parity['fp16_max_abs_score_diff']:.2e}, max |logit diff| "
                         f"{parity['fp16_max_abs_logit_diff']:.2e}")
            if parity["fp16_max_abs_score_diff"] > FP16_WARN_SCORE_DIFF:
                lines.append("  warning: the fp16 variant moves scores by more than "
                             f"{FP16_WARN_SCORE_DIFF}; import with --no-fp16 or serve with "
                             "judges.precision: fp32")
        for probe in r["probe_scores"]:
            scores = ", ".join(f"{k} {v:.3f}" for k, v in probe["scores"].items())
            lines.append(f"  probe {probe['response'][:40]!r}: {scores}")
        return lines


def _max_length(judge: str, ckpt: Checkpoint, wanted: int | None) -> int:
    limit = ckpt.max_positions
    if wanted is not None:
        if wanted > limit:
            raise CheckpointError(judge, f"--max-length {wanted} exceeds the model's {limit} "
                                         "positions")
        if wanted < 8:
            raise CheckpointError(judge, f"--max-length {wanted} is below 8")
        return wanted
    tok_max = None
    cfg = ckpt.path / "tokenizer_config.json"
    if cfg.is_file():
        try:
            data = json.loads(cfg.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(judge, f"{cfg.name} is not valid JSON: {exc}") from exc
        value = data.get("model_max_length") if isinstance(data, dict) else None
        tok_max = value if isinstance(value, int) and 8 <= value < 1_000_000 else None
    length = min(DEFAULT_MAX_LENGTH, limit, tok_max or limit)
    if length < 8:
        raise CheckpointError(judge, f"the model's {limit} positions are fewer than 8")
    return length


def _sha256(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def _manifest(name: str, ckpt: Checkpoint, heads: Sequence[HeadChoice], kind: str,
              max_length: int, fp16: bool, digest: str) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": name,
        "version": f"hf-{digest[:12]}",
        "description": f"{ckpt.architecture} ({ckpt.shape.num_layers} layers) imported from "
                       f"{ckpt.path.resolve().name} by taxmeter judges import",
        "model": "model.onnx",
    }
    if fp16:
        manifest["variants"] = {"fp16": "model.fp16.onnx"}
    manifest["tokenizer"] = "tokenizer.json"
    manifest["input"] = {"kind": kind, "max_length": max_length}
    manifest["inputs"] = {n: n for n in graph_input_names(ckpt.shape)}
    manifest["heads"] = []
    for h in heads:
        spec: dict[str, Any] = {"name": h.name, "role": h.role, "output": "logits"}
        if ckpt.multi_label:
            spec.update(index=h.label_index, transform="sigmoid")
        else:
            spec.update(transform="softmax", softmax_index=h.label_index)
        spec.update(threshold=h.threshold, calibration={"method": "none"})
        manifest["heads"].append(spec)
    return manifest


def _probe(judge_dir: Path, models: Sequence[bytes]
           ) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Load ``judge_dir`` with the real loader, check the manifest against each model's
    session and score :data:`PROBES`: ``(logits, scores by head)`` per model."""
    import onnxruntime as ort

    from taxmeter.judges.backend import TensorSpec
    from taxmeter.judges.manifest import load_manifest, validate_against_model
    from taxmeter.judges.onnx_backend import ort_dtype_name
    from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer
    from taxmeter.types import JudgeInput

    manifest = load_manifest(judge_dir)
    tok = JudgeTokenizer(load_tokenizer(manifest.name, judge_dir / manifest.tokenizer),
                         kind=manifest.input.kind, max_length=manifest.input.max_length)
    try:
        by_role = tok.encode([JudgeInput(prompt=p, response=r) for p, r in PROBES])
    except Exception as exc:  # tokenizers raises a bare Exception (e.g. no pair template)
        raise CheckpointError(manifest.name, f"tokenizer.json cannot encode "
                                             f"{manifest.input.kind!r} inputs: {exc}") from exc
    results = []
    for model in models:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

        def specs(args: Sequence[Any]) -> list[TensorSpec]:
            return [TensorSpec(a.name, ort_dtype_name(a.type),
                               tuple(d if isinstance(d, int) else None for d in a.shape))
                    for a in args]

        roles = validate_against_model(manifest, specs(sess.get_inputs()),
                                       specs(sess.get_outputs()))
        logits = sess.run(["logits"], {g: by_role[r] for r, g in roles.items()})[0]
        results.append((logits, {h.name: h.scores(logits) for h in manifest.heads}))
    return results


def _sanitise(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-]+", "-", name).strip("-") or "imported"


def default_name(hf_dir: Path) -> str:
    """The judge name when ``--name`` is not given: the checkpoint folder's, sanitised."""
    return _sanitise(hf_dir.resolve().name)


def import_checkpoint(hf_dir: Path, dest: Path, options: ImportOptions) -> ImportReport:
    """Import ``hf_dir`` into the repository folder ``dest`` as ``dest/<options.name>``.

    Raises :class:`CheckpointError` (a ``JudgeLoadError``, one line) for an unsupported or
    incomplete checkpoint, an unknown label, or an existing judge without ``force``.
    """
    from taxmeter.judges.tokenize import load_tokenizer
    from taxmeter.judgetools.weights import judge_tokenizer_json

    name = options.name
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise CheckpointError(name, "a judge name may hold only letters, digits, '_' and '-'")
    final = Path(dest) / name
    if final.exists() and not options.force:
        raise CheckpointError(name, f"{final} already exists (pass --force to replace it)")
    ckpt = load_checkpoint(Path(hf_dir), name)
    heads = choose_heads(name, ckpt.labels, options.heads, options.thresholds)
    max_length = _max_length(name, ckpt, options.max_length)
    source_tok = load_tokenizer(name, ckpt.path / "tokenizer.json")  # names a garbled file
    tok_vocab = source_tok.get_vocab_size(with_added_tokens=True)
    if options.input_kind == "pair" and source_tok.num_special_tokens_to_add(True) <= \
            source_tok.num_special_tokens_to_add(False):
        raise CheckpointError(name, "tokenizer.json has no pair template in its post_processor: "
                                    "--input pair would lose the special tokens")
    tokenizer_json = judge_tokenizer_json(ckpt.path / "tokenizer.json", max_length)
    if tok_vocab > ckpt.vocab_size:
        raise CheckpointError(name, f"tokenizer.json has {tok_vocab} tokens but the model's "
                                    f"vocabulary has {ckpt.vocab_size}: wrong tokenizer")
    fp32_bytes = sum(int(w.size) for w in ckpt.weights.values()) * 4
    if fp32_bytes > MAX_MODEL_BYTES:
        raise CheckpointError(name, f"the fp32 graph would hold {fp32_bytes / 1e9:.1f} GB of "
                                    "weights, over ONNX's 2 GB single-file limit (models that "
                                    "need external data files are not supported)")
    sources = [ckpt.path / "config.json", *(ckpt.path / f for f in ckpt.weight_files),
               ckpt.path / "tokenizer.json"]
    digest = _sha256(sources)
    models = [build_classifier_graph(ckpt.weights, ckpt.shape).SerializeToString()]
    if options.fp16:
        models.append(build_classifier_graph(ckpt.weights, ckpt.shape,
                                             dtype="float16").SerializeToString())
    manifest = _manifest(name, ckpt, heads, options.input_kind, max_length, options.fp16,
                         digest)

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp_root = Path(tempfile.mkdtemp(prefix=f".{name}-import-", dir=dest))
    try:
        tmp = tmp_root / name
        tmp.mkdir()
        (tmp / "model.onnx").write_bytes(models[0])
        if options.fp16:
            (tmp / "model.fp16.onnx").write_bytes(models[1])
        (tmp / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
        (tmp / "manifest.yaml").write_text(
            yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), encoding="utf-8")
        probed = _probe(tmp, models)
        report = _report(ckpt, heads, manifest, sources, probed)
        (tmp / "import_report.json").write_text(json.dumps(report, indent=2) + "\n",
                                                encoding="utf-8")
        tmp.chmod(0o755)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return ImportReport(path=final, report=report)


def _report(ckpt: Checkpoint, heads: Sequence[HeadChoice], manifest: Mapping[str, Any],
            sources: Sequence[Path], probed: Sequence[tuple[np.ndarray, dict[str, np.ndarray]]]
            ) -> dict[str, Any]:
    logits32, scores32 = probed[0]
    logit_diff = score_diff = None
    if len(probed) > 1:
        logits16, scores16 = probed[1]
        logit_diff = float(np.max(np.abs(logits16.astype(np.float64) - logits32)))
        score_diff = max(float(np.max(np.abs(scores16[k] - scores32[k]))) for k in scores32)
    return {
        "source": str(ckpt.path.resolve()),
        "files": {p.name: _sha256([p]) for p in sources},
        "architecture": ckpt.architecture,
        "model_type": ckpt.model_type,
        "layers": ckpt.shape.num_layers,
        "hidden_size": ckpt.shape.hidden_size,
        "attention_heads": ckpt.shape.num_heads,
        "activation": ckpt.shape.activation,
        "vocab_size": ckpt.vocab_size,
        "labels": list(ckpt.labels),
        "multi_label": ckpt.multi_label,
        "input": dict(manifest["input"]),
        "heads": [
            {"name": h.name, "role": h.role, "label": ckpt.labels[h.label_index],
             "label_index": h.label_index,
             "transform": "sigmoid" if ckpt.multi_label else "softmax",
             "threshold": h.threshold}
            for h in heads
        ],
        "parity": {
            "probes": len(PROBES),
            "fp16_max_abs_logit_diff": None if logit_diff is None else round(logit_diff, 6),
            "fp16_max_abs_score_diff": None if score_diff is None else round(score_diff, 6),
        },
        "probe_scores": [
            {"prompt": p, "response": r,
             "scores": {k: round(float(v[i]), 6) for k, v in scores32.items()}}
            for i, (p, r) in enumerate(PROBES)
        ],
    }


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``import`` to the ``taxmeter judges`` sub-command group."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="turn a local Hugging Face sequence classifier into a judge (no torch)",
        description="Import HF_DIR (config.json, model.safetensors or a sharded "
                    "model.safetensors.index.json, tokenizer.json) as the judge DEST/NAME: "
                    "model.onnx, model.fp16.onnx, tokenizer.json, manifest.yaml, "
                    "import_report.json. Supported: BertForSequenceClassification, "
                    "RobertaForSequenceClassification (DistilRoBERTa), "
                    "XLMRobertaForSequenceClassification, DistilBertForSequenceClassification. "
                    "Nothing is downloaded: fetch the checkpoint yourself first.",
        epilog="example: taxmeter judges import ./distilroberta-rejection ./judges "
               "--name refusal-roberta --head refusal=REJECTION --threshold refusal=0.5",
    )
    parser.add_argument("hf_dir", type=Path, metavar="HF_DIR",
                        help="the checkpoint folder")
    parser.add_argument("dest", type=Path, metavar="DEST",
                        help="the judge repository folder; the judge goes to DEST/NAME")
    parser.add_argument("--name", help="judge name (default: HF_DIR's folder name)")
    parser.add_argument("--head", action="append", default=[], metavar="NAME=LABEL",
                        help="head NAME scores the probability of LABEL (an id2label name or "
                             "index); repeatable. Heads named refusal/unsafe/quality get that "
                             "role. Default: a label named like refusal/rejection (or "
                             "unsafe/toxic) becomes that head")
    parser.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                        help="decision threshold of head NAME (default 0.5); repeatable")
    parser.add_argument("--input", dest="input_kind", choices=("response", "pair"),
                        default="response",
                        help="what the model reads: the response alone (default) or the "
                             "(prompt, response) text pair")
    parser.add_argument("--max-length", type=int, default=None,
                        help="tokens per input (default: min(512, the model's positions, "
                             "tokenizer_config.json model_max_length))")
    parser.add_argument("--no-fp16", dest="fp16", action="store_false",
                        help="do not write the fp16 variant")
    parser.add_argument("--force", action="store_true", help="replace an existing DEST/NAME")
    parser.set_defaults(func=run_import)
    return parser


def _pairs(judge: str, values: Sequence[str], option: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key or not value:
            raise CheckpointError(judge, f"{option} {v!r} must look like NAME=VALUE")
        out.append((key.strip(), value.strip()))
    return out


def run_import(args: argparse.Namespace) -> int:
    name = args.name or default_name(args.hf_dir)
    try:
        thresholds: dict[str, float] = {}
        for key, value in _pairs(name, args.threshold, "--threshold"):
            try:
                thresholds[key] = float(value)
            except ValueError as exc:
                raise CheckpointError(name, f"--threshold {key}={value}: not a number") from exc
        options = ImportOptions(
            name=name, heads=_pairs(name, args.head, "--head"), thresholds=thresholds,
            input_kind=args.input_kind, max_length=args.max_length, fp16=args.fp16,
            force=args.force)
        report = import_checkpoint(args.hf_dir, args.dest, options)
    except JudgeLoadError as exc:
        print(f"taxmeter judges import: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.summary_lines()))
    return 0
