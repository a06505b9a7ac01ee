"""``taxmeter judges import HF_DIR DEST``: a local Hugging Face sequence classifier → a judge
folder ``DEST/<name>/{model.onnx, model.fp16.onnx, tokenizer.json, manifest.yaml,
import_report.json}``.

Steps: read and check the checkpoint (``hf_checkpoint``), map labels to heads, build the fp32
and fp16 graphs (``hf_graph``), write the folder in a temporary place, load it back with the
real manifest loader and check the manifest against the ONNX Runtime session's tensors, score
a few fixed probe texts through both variants (the fp16-vs-fp32 difference goes into the
report), then move it into place. No torch, no transformers, no network. The output is a pure
function of the checkpoint files and the options (byte-identical on rebuild). The probes, the
``--expect`` comparison and the report: ``hf_probe``.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from taxmeter.judgetools.hf_checkpoint import Checkpoint, CheckpointError, load_checkpoint
from taxmeter.judgetools.hf_graph import build_classifier_graph, graph_input_names
from taxmeter.judgetools.hf_heads import HeadChoice, choose_heads
from taxmeter.judgetools.hf_probe import (
    PROBES,
    Expected,
    compare_expected,
    import_report,
    probe_judge,
    read_expected,
    sha256_files,
)

__all__ = [
    "PROBES",
    "Expected",
    "ImportOptions",
    "ImportReport",
    "default_name",
    "import_checkpoint",
    "read_expected",
]

DEFAULT_MAX_LENGTH = 512
MAX_MODEL_BYTES = 1_900_000_000
"""Weights per graph file: a protobuf message cannot exceed 2 GiB (XLM-R large is over)."""
FP16_WARN_SCORE_DIFF = 0.01


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
    expect: Path | None = None
    """JSONL of inputs with the original model's logits (``read_expected``): import only if
    the fp32 graph reproduces them within ``expect_tolerance``."""
    expect_tolerance: float = 1e-3


@dataclass(frozen=True, slots=True)
class ImportReport:
    path: Path
    report: Mapping[str, Any]

    def summary_lines(self) -> list[str]:
        r = self.report
        lines = [
            f"judge written to {self.path} ({r['architecture']}, {r['layers']} layers, "
            f"hidden {r['hidden_size']}, input {r['input']['kind']}, "
            f"max_length {r['input']['max_length']})",
            "  labels: " + ", ".join(f"{i}={lab}" for i, lab in enumerate(r["labels"])),
        ]
        for h in r["heads"]:
            lines.append(
                f"  head {h['name']} (role {h['role']}): {h['transform']} of label "
                f"{h['label']!r} (index {h['label_index']}), threshold {h['threshold']}"
            )
        parity = r["parity"]
        if parity["fp16_max_abs_score_diff"] is not None:
            lines.append(
                f"  fp16 vs fp32 on {parity['probes']} probe texts: max |score diff| "
                f"{parity['fp16_max_abs_score_diff']:.2e}, max |logit diff| "
                f"{parity['fp16_max_abs_logit_diff']:.2e}"
            )
            if parity["fp16_max_abs_score_diff"] > FP16_WARN_SCORE_DIFF:
                lines.append(
                    "  warning: the fp16 variant moves scores by more than "
                    f"{FP16_WARN_SCORE_DIFF}; import with --no-fp16 or serve with "
                    "judges.precision: fp32"
                )
        if "expected" in r:
            e = r["expected"]
            lines.append(
                f"  --expect {e['file']}: {e['entries']} entries, max |logit diff| "
                f"{e['max_abs_logit_diff']:.2e} (tolerance {e['tolerance']})"
            )
        for probe in r["probe_scores"]:
            scores = ", ".join(f"{k} {v:.3f}" for k, v in probe["scores"].items())
            lines.append(f"  probe {probe['response'][:40]!r}: {scores}")
        return lines


def _max_length(judge: str, ckpt: Checkpoint, wanted: int | None) -> int:
    limit = ckpt.max_positions
    if wanted is not None:
        if wanted > limit:
            raise CheckpointError(
                judge, f"--max-length {wanted} exceeds the model's {limit} positions"
            )
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


def _manifest(
    name: str,
    ckpt: Checkpoint,
    heads: Sequence[HeadChoice],
    kind: str,
    max_length: int,
    fp16: bool,
    digest: str,
) -> dict[str, Any]:
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
    if options.input_kind == "pair" and source_tok.num_special_tokens_to_add(
        True
    ) <= source_tok.num_special_tokens_to_add(False):
        raise CheckpointError(
            name,
            "tokenizer.json has no pair template in its post_processor: "
            "--input pair would lose the special tokens",
        )
    tokenizer_json = judge_tokenizer_json(ckpt.path / "tokenizer.json", max_length)
    if tok_vocab > ckpt.vocab_size:
        raise CheckpointError(
            name,
            f"tokenizer.json has {tok_vocab} tokens but the model's "
            f"vocabulary has {ckpt.vocab_size}: wrong tokenizer",
        )
    fp32_bytes = sum(int(w.size) for w in ckpt.weights.values()) * 4
    if fp32_bytes > MAX_MODEL_BYTES:
        raise CheckpointError(
            name,
            f"the fp32 graph would hold {fp32_bytes / 1e9:.1f} GB of "
            "weights, over ONNX's 2 GB single-file limit (models that "
            "need external data files are not supported)",
        )
    sources = [
        ckpt.path / "config.json",
        *(ckpt.path / f for f in ckpt.weight_files),
        ckpt.path / "tokenizer.json",
    ]
    digest = sha256_files(sources)
    expected = (
        []
        if options.expect is None
        else read_expected(name, Path(options.expect), len(ckpt.labels))
    )
    models = [build_classifier_graph(ckpt.weights, ckpt.shape).SerializeToString()]
    if options.fp16:
        models.append(
            build_classifier_graph(ckpt.weights, ckpt.shape, dtype="float16").SerializeToString()
        )
    manifest = _manifest(name, ckpt, heads, options.input_kind, max_length, options.fp16, digest)

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
            yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        probed, got = probe_judge(tmp, models, expected)
        report = import_report(ckpt, heads, manifest, sources, probed)
        if options.expect is not None and got is not None:
            report["expected"] = compare_expected(
                name, options.expect, expected, got, options.expect_tolerance
            )
        (tmp / "import_report.json").write_text(
            json.dumps(report, indent=2) + "\n", encoding="utf-8"
        )
        tmp.chmod(0o755)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return ImportReport(path=final, report=report)
