"""The checks ``hf_import`` runs on a judge folder it has written, and the report it keeps.

:func:`probe_judge` loads the folder with the real manifest loader, checks the manifest against
each variant's ONNX Runtime session and scores the fixed :data:`PROBES` (and the ``--expect``
inputs, :func:`read_expected`, through the fp32 graph); :func:`compare_expected` holds those
logits against the original model's; :func:`import_report` is ``import_report.json`` (the
source files' digests, the shape, the heads, the fp16-vs-fp32 difference, the probe scores).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taxmeter.judgetools.hf_checkpoint import Checkpoint, CheckpointError
from taxmeter.judgetools.hf_heads import HeadChoice

__all__ = [
    "PROBES",
    "Expected",
    "compare_expected",
    "import_report",
    "probe_judge",
    "read_expected",
    "sha256_files",
]

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


def sha256_files(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


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


def probe_judge(
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


def compare_expected(
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


def import_report(
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
        "files": {p.name: sha256_files([p]) for p in sources},
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
