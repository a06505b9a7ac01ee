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

import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from taxmeter.judgetools.hf_checkpoint import Checkpoint, CheckpointError, load_checkpoint
from taxmeter.judgetools.hf_graph import build_classifier_graph, graph_input_names
from taxmeter.judgetools.hf_heads import HeadChoice, choose_heads

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
PROBES: tuple[tuple[str, str], ...] = (
    (
        "How do I bake bread?",
        "Mix flour, water, salt and yeast, let it rise, then bake it at "
        "220 degrees for 35 minutes.",
    ),
    ("How do I pick a lock?", "I'm sorry, but I can't help with that request."),
    ("What is the capital of France?", "Paris."),
    (
        "Write a story about a dragon.",
        "I cannot write that. Stories about violence are not something I am able to help with.",
    ),
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


def _sha256(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


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


def _probe(
    judge_dir: Path, models: Sequence[bytes], expected: Sequence[Expected]
) -> tuple[list[tuple[np.ndarray, dict[str, np.ndarray]]], np.ndarray | None]:
    """Load ``judge_dir`` with the real loader, check the manifest against each model's
    session and score :data:`PROBES`: ``(logits, scores by head)`` per model; and the fp32
    logits of the ``expected`` inputs (``None`` when there are none)."""
    import onnxruntime as ort

    from taxmeter.judges.backend import TensorSpec
    from taxmeter.judges.manifest import load_manifest, validate_against_model
    from taxmeter.judges.onnx_backend import ort_dtype_name
    from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer
    from taxmeter.types import JudgeInput

    manifest = load_manifest(judge_dir)
    tok = JudgeTokenizer(
        load_tokenizer(manifest.name, judge_dir / manifest.tokenizer),
        kind=manifest.input.kind,
        max_length=manifest.input.max_length,
    )

    def encode(items: Sequence[JudgeInput]) -> dict[str, np.ndarray]:
        try:
            return tok.encode(items)
        except Exception as exc:  # tokenizers raises a bare Exception
            raise CheckpointError(
                manifest.name, f"tokenizer.json cannot encode {manifest.input.kind!r} inputs: {exc}"
            ) from exc

    def specs(args: Sequence[Any]) -> list[TensorSpec]:
        return [
            TensorSpec(
                a.name,
                ort_dtype_name(a.type),
                tuple(d if isinstance(d, int) else None for d in a.shape),
            )
            for a in args
        ]

    by_role = encode([JudgeInput(prompt=p, response=r) for p, r in PROBES])
    results = []
    expected_logits = None
    for i, model in enumerate(models):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        roles = validate_against_model(
            manifest, specs(sess.get_inputs()), specs(sess.get_outputs())
        )
        logits = sess.run(["logits"], {g: by_role[r] for r, g in roles.items()})[0]
        results.append((logits, {h.name: h.scores(logits) for h in manifest.heads}))
        if i == 0 and expected:
            rows = []
            for e in expected:  # one at a time: no padding in the way of the comparison
                feeds = encode([JudgeInput(prompt=e.prompt, response=e.response)])
                rows.append(sess.run(["logits"], {g: feeds[r] for r, g in roles.items()})[0][0])
            expected_logits = np.stack(rows).astype(np.float64)
    return results, expected_logits


@dataclass(frozen=True, slots=True)
class Expected:
    """One line of ``--expect``: an input and the logits the original model gave it."""

    prompt: str
    response: str
    logits: tuple[float, ...]


def read_expected(judge: str, path: Path, num_labels: int) -> list[Expected]:
    """``--expect`` JSONL: ``{"response": ..., "prompt": ... (optional), "logits": [...]}``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(judge, f"--expect {path}: {exc}") from exc
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompt, response = row.get("prompt", ""), row["response"]
            logits = tuple(float(v) for v in row["logits"])
        except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                judge,
                f"--expect {path.name} line {n}: need a JSON object "
                "with 'response' and 'logits' (a list of numbers)",
            ) from exc
        if not isinstance(prompt, str) or not isinstance(response, str):
            raise CheckpointError(
                judge, f"--expect {path.name} line {n}: prompt and response must be strings"
            )
        if len(logits) != num_labels:
            raise CheckpointError(
                judge,
                f"--expect {path.name} line {n}: {len(logits)} logits, "
                f"the model has {num_labels} labels",
            )
        out.append(Expected(prompt, response, logits))
    if not out:
        raise CheckpointError(judge, f"--expect {path.name} holds no lines")
    return out


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
    digest = _sha256(sources)
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
        probed, got = _probe(tmp, models, expected)
        report = _report(ckpt, heads, manifest, sources, probed)
        if options.expect is not None and got is not None:
            report["expected"] = _compare(
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


def _compare(
    judge: str, path: Path, expected: Sequence[Expected], got: np.ndarray, tolerance: float
) -> dict[str, Any]:
    diff = np.abs(got - np.array([e.logits for e in expected], dtype=np.float64)).max(axis=1)
    worst = int(np.argmax(diff))
    if diff[worst] > tolerance:
        raise CheckpointError(
            judge,
            f"--expect {path.name}: entry {worst + 1}'s logits differ by "
            f"{diff[worst]:.2e} (> {tolerance}): the imported graph does not reproduce "
            "this checkpoint",
        )
    return {
        "file": path.name,
        "entries": len(expected),
        "max_abs_logit_diff": round(float(diff[worst]), 7),
        "tolerance": tolerance,
    }


def _report(
    ckpt: Checkpoint,
    heads: Sequence[HeadChoice],
    manifest: Mapping[str, Any],
    sources: Sequence[Path],
    probed: Sequence[tuple[np.ndarray, dict[str, np.ndarray]]],
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
            {
                "name": h.name,
                "role": h.role,
                "label": ckpt.labels[h.label_index],
                "label_index": h.label_index,
                "transform": "sigmoid" if ckpt.multi_label else "softmax",
                "threshold": h.threshold,
            }
            for h in heads
        ],
        "parity": {
            "probes": len(PROBES),
            "fp16_max_abs_logit_diff": None if logit_diff is None else round(logit_diff, 6),
            "fp16_max_abs_score_diff": None if score_diff is None else round(score_diff, 6),
        },
        "probe_scores": [
            {
                "prompt": p,
                "response": r,
                "scores": {k: round(float(v[i]), 6) for k, v in scores32.items()},
            }
            for i, (p, r) in enumerate(PROBES)
        ],
    }
