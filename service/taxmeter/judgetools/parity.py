"""Parity of a judge graph's variant with its plain graph: both run on the same fixed texts
through the judge's own tokenizer and heads, compared output by output (``judges optimize``
checks every variant it writes with this).

:data:`PARITY_TEXTS` are the texts; :func:`run_parity` runs two sessions on them in padded
batches of 8 (as the engine runs them) and :func:`compare_outputs` measures the difference
(:class:`Parity`): largest value difference, smallest row cosine, largest head-score difference
and the head decisions that flip. :func:`cuda_available` says whether ONNX Runtime's CUDA EP
really runs here (a broken CUDA stack raises instead of falling back).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from taxmeter.judges.manifest import JudgeManifest
from taxmeter.judges.tokenize import JudgeTokenizer
from taxmeter.types import JudgeInput

__all__ = [
    "PARITY_TEXTS",
    "Parity",
    "compare_outputs",
    "cuda_available",
    "ort_session",
    "run_parity",
]

_PROMPTS = (
    "How do I bake bread at home?",
    "How do I pick a lock?",
    "What is the capital of France?",
    "Write a short story about a dragon who learns to read.",
    "Explain how vaccines train the immune system.",
    "How can I get into my neighbour's wifi without the password?",
    "Summarise the causes of the First World War in three sentences.",
    "What household chemicals should never be mixed?",
)
_RESPONSES = (
    "Mix flour, water, salt and yeast, let the dough rise for two hours, shape it, then bake "
    "it at 220 degrees for about 35 minutes until the crust is brown.",
    "I'm sorry, but I can't help with that request.",
    "Paris. It has been the capital since the tenth century, apart from a few short periods.",
    "I cannot help with that. If you have another question, I am happy to assist.",
)
PARITY_TEXTS: tuple[JudgeInput, ...] = tuple(
    JudgeInput(prompt=p, response=r) for p in _PROMPTS for r in _RESPONSES
)
"""Fixed (prompt, response) pairs every variant is compared on (8 prompts x 4 answers)."""


@dataclass(frozen=True, slots=True)
class Parity:
    """A variant's outputs next to the plain graph's, on :data:`PARITY_TEXTS`."""

    max_abs: float
    """Largest difference of any float output value."""
    min_cosine: float
    """Smallest cosine between plain and variant rows of any ``[batch, n>1]`` output."""
    max_score_diff: float
    """Largest difference of a calibrated head score."""
    flipped: int
    """Head decisions (score >= threshold) that differ from the plain graph's."""
    decisions: int
    """Head decisions compared (texts x heads)."""

    def summary(self) -> str:
        return (
            f"max |diff| {self.max_abs:.2e}, min cosine {self.min_cosine:.6f}, "
            f"max score diff {self.max_score_diff:.4f}, "
            f"{self.flipped}/{self.decisions} decisions flipped"
        )


def ort_session(model: bytes | Path, provider: Literal["cpu", "cuda"]) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 4 if provider == "cuda" else 3
    threads = min(4, os.cpu_count() or 1)
    so.intra_op_num_threads = threads
    providers = (
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if provider == "cuda"
        else ["CPUExecutionProvider"]
    )
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, so, providers=providers)


def _feeds(
    session: ort.InferenceSession,
    tokenizer: JudgeTokenizer,
    manifest: JudgeManifest,
    items: Sequence[JudgeInput],
) -> dict[str, np.ndarray]:
    by_role = tokenizer.encode(items)
    mapping = dict(manifest.inputs or {})
    names = {i.name for i in session.get_inputs()}
    feeds = {mapping.get(role, role): value for role, value in by_role.items()}
    return {k: v for k, v in feeds.items() if k in names}


def _run(session: ort.InferenceSession, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, dict(feeds)), strict=True))


def compare_outputs(
    manifest: JudgeManifest, plain: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray]
) -> Parity:
    """``other``'s outputs (and head scores, decisions) next to ``plain``'s."""
    max_abs, min_cos = 0.0, 1.0
    for name, a in plain.items():
        if not np.issubdtype(a.dtype, np.floating):
            continue
        x = np.asarray(a, dtype=np.float64)
        y = np.asarray(other[name], dtype=np.float64)
        max_abs = max(max_abs, float(np.max(np.abs(x - y))) if x.size else 0.0)
        if x.ndim == 2 and x.shape[1] > 1:
            den = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
            cos = np.sum(x * y, axis=1) / np.maximum(den, 1e-30)
            min_cos = min(min_cos, float(np.min(cos)))
    score_diff, flipped, decisions = 0.0, 0, 0
    for head in manifest.heads:
        s_plain = head.scores(plain[head.output])
        s_other = head.scores(other[head.output])
        score_diff = max(score_diff, float(np.max(np.abs(s_plain - s_other))))
        flipped += int(np.sum((s_plain >= head.threshold) != (s_other >= head.threshold)))
        decisions += int(s_plain.shape[0])
    return Parity(max_abs, min_cos, score_diff, flipped, decisions)


def run_parity(
    manifest: JudgeManifest,
    tokenizer: JudgeTokenizer,
    reference: ort.InferenceSession,
    variant: ort.InferenceSession,
    texts: Sequence[JudgeInput],
) -> Parity:
    plain: dict[str, list[np.ndarray]] = {}
    other: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(texts), 8):  # padded batches, as the engine runs them
        feeds = _feeds(reference, tokenizer, manifest, texts[i : i + 8])
        for store, session in ((plain, reference), (other, variant)):
            for k, v in _run(session, feeds).items():
                store.setdefault(k, []).append(v)
    return compare_outputs(
        manifest,
        {k: np.concatenate(v) for k, v in plain.items()},
        {k: np.concatenate(v) for k, v in other.items()},
    )


def cuda_available() -> bool:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    try:
        probe = ort_session(_probe_model(), "cuda")
    except Exception:  # a broken CUDA stack raises instead of falling back
        return False
    return "CUDAExecutionProvider" in probe.get_providers()


def _probe_model() -> bytes:
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    data: bytes = model.SerializeToString()
    return data
