"""CPU variants of a judge side by side: the plain fp32 graph, the fused ``opt`` graph and the
dynamic ``int8`` graph (``taxmeter judges optimize``), speed and accuracy cost in one table.

Speed: raw ``InferenceSession.run`` on the same tokenised batches (the eval texts, batch 16,
padded to the longest item as the engine does), with the engine's session settings; every
variant runs a batch in turn, round after round, so load from other processes falls on all of
them alike. Accuracy: every variant's head scores on the fixed eval set
(``taxmeter/judges/data/eval.jsonl``, 140 labelled pairs) next to the plain graph's (largest
and mean score difference, decisions that flip) and against the labels.

Model: a copy of the built default judge (``--repo DIR``, default: the cache path
``taxmeter judges build`` writes) optimised into a temporary folder; ``--random`` uses a
MiniLM-L6-shaped graph with random weights instead. Run:

    .venv/bin/python bench/judge_variants.py [--repo DIR | --random] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from taxmeter.judges.manifest import load_manifest  # noqa: E402
from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer  # noqa: E402
from taxmeter.judgetools.optimize import optimize_judge  # noqa: E402
from taxmeter.types import JudgeInput  # noqa: E402

EVAL = ROOT / "service" / "taxmeter" / "judges" / "data" / "eval.jsonl"


def judge_copy(repo: Path | None, use_random: bool) -> tuple[Path, str]:
    tmp = Path(tempfile.mkdtemp(prefix="taxmeter-variants-"))
    if use_random:
        from judges import random_repository

        src, label = random_repository(None)
        shutil.copytree(src / "default", tmp / "default")
        return tmp / "default", label
    if repo is None:
        from taxmeter.judgetools.repository import default_repository_path

        repo = default_repository_path()
    src = repo / "default"
    if not (src / "manifest.yaml").is_file():
        raise SystemExit(
            f"no built default judge in {repo}: run `taxmeter judges build` or use --random"
        )
    shutil.copytree(src, tmp / "default")
    version = load_manifest(src).version
    return tmp / "default", f"default judge (builder version {version}) from {repo}"


def session(path: Path, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, help="repository holding a built 'default' judge")
    ap.add_argument("--random", action="store_true", help="MiniLM-shaped random weights")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    d, label = judge_copy(args.repo, args.random)
    print(f"model: {label}")
    print(f"load average before the run: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    print(
        f"machine: {platform.machine()}, onnxruntime {ort.__version__}, "
        f"intra_op_threads={args.threads}, batch={args.batch}"
    )
    t0 = time.perf_counter()
    report = optimize_judge(d)
    print(f"taxmeter judges optimize: {time.perf_counter() - t0:.1f} s")
    print("\n".join(report.summary_lines()))

    manifest = load_manifest(d)
    tok = JudgeTokenizer(
        load_tokenizer("default", d / manifest.tokenizer),
        kind=manifest.input.kind,
        max_length=manifest.input.max_length,
    )
    rows = [json.loads(line) for line in EVAL.read_text(encoding="utf-8").splitlines() if line]
    items = [JudgeInput(r["prompt"], r["response"]) for r in rows]
    batches = [tok.encode(items[i : i + args.batch]) for i in range(0, len(items), args.batch)]
    files: dict[str, str] = {
        "plain": manifest.model,
        **{k: v for k, v in manifest.variants.items() if k in ("opt", "int8")},
    }
    sessions = {name: session(d / f, args.threads) for name, f in files.items()}
    outputs: dict[str, list[np.ndarray]] = {name: [] for name in sessions}
    spent = dict.fromkeys(sessions, 0.0)
    for r in range(args.rounds + 1):  # round 0 warms up and is not timed
        for feeds in batches:
            for name, s in sessions.items():
                t = time.perf_counter()
                out = s.run(["logits"], feeds)[0]
                if r:
                    spent[name] += time.perf_counter() - t
                else:
                    outputs[name].append(out)
    n = len(items) * args.rounds
    logits = {k: np.concatenate(v) for k, v in outputs.items()}
    print(
        f"\n{len(items)} eval pairs x {args.rounds} rounds per variant; mean tokens per "
        f"sequence {np.mean([b['response_attention_mask'].sum(1).mean() for b in batches]):.0f}"
    )
    print(
        "| variant | file MB | pairs/s | vs plain | head | max/mean abs score diff vs plain "
        "| decisions flipped | label accuracy |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, f in files.items():
        rate = n / spent[name]
        mb = (d / f).stat().st_size / 1e6
        for head in manifest.heads:
            s_plain = head.scores(logits["plain"])
            s = head.scores(logits[name])
            diff = np.abs(s - s_plain)
            flips = int(np.sum((s >= head.threshold) != (s_plain >= head.threshold)))
            labels = np.asarray(
                [-1 if r.get(head.name) is None else int(r[head.name]) for r in rows]
            )
            known = labels >= 0
            acc = float(np.mean((s[known] >= head.threshold) == (labels[known] == 1)))
            print(
                f"| {name} | {mb:.0f} | {rate:.1f} | {rate / (n / spent['plain']):.2f}x | "
                f"{head.name} | {diff.max():.4f} / {diff.mean():.4f} | {flips}/{len(s)} | "
                f"{acc:.3f} ({int(known.sum())}) |"
            )
    print(f"load average after the run: {os.getloadavg()[0]:.1f}")
    shutil.rmtree(d.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
