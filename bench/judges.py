"""Judge engine benchmarks, measured side by side in one run.

1. engine vs raw: the whole engine (batcher, thread pool, tokeniser, head mapping) against a
   bare loop of ``JudgeTokenizer.encode`` + ``InferenceSession.run`` at the same batch size,
   tokeniser path and thread settings (target >= 0.9x).
2. dynamic batching vs one at a time: 64 concurrent submitters through the engine with
   ``max_batch_size=16`` against ``max_batch_size=1`` (target >= 1.2x on a 2-core CPU).
3. items/s at 64 and 128 tokens per sequence (an item is a prompt and a response: two
   encoded sequences for the dual-encoder default judge).
4. the engine's own work per item: the engine with an instant backend (zeros at once) against
   the tokeniser alone; what is left is batching, dedup and head mapping per item.

Model: the real default judge (``taxmeter.judgetools.ensure_default_repository``) unless
``--random`` is given or it cannot be built; then a MiniLM-L6-shaped random-weight graph
(6 layers, hidden 384, 12 heads, FFN 1536, MiniLM tokenizer). Run:

    .venv/bin/python bench/judges.py [--random | --repo DIR] [--items 32] [--rounds 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import onnxruntime as ort
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from taxmeter.judges.config import JudgeEngineConfig  # noqa: E402
from taxmeter.judges.engine import JudgeEngine  # noqa: E402
from taxmeter.judges.repository import load_repository, onnx_backend_factory  # noqa: E402
from taxmeter.types import JudgeInput  # noqa: E402

WORDS = (
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "while",
    "seven",
    "cats",
    "quietly",
    "pack",
    "boxes",
    "with",
    "old",
    "books",
    "and",
    "red",
    "apples",
)


def text_of(tokens: int, seed: int) -> str:
    # common lowercase words are one WordPiece token each; [CLS]/[SEP] add two
    return " ".join(WORDS[(seed + i) % len(WORDS)] for i in range(tokens - 2))


def items_of(tokens: int, n: int) -> list[JudgeInput]:
    # every item distinct (a leading number: one token), so the engine's per-batch
    # deduplication of identical items does not flatter it against the raw loop
    return [JudgeInput(f"{i} " + text_of(tokens - 1, i), text_of(tokens, i + 7)) for i in range(n)]


def random_repository(tokenizer: Path | None) -> tuple[Path, str]:
    """A MiniLM-L6-shaped judge with seeded random weights, fp32 and fp16, built by the default
    judge's own graph builder (so the weights need not travel to a GPU machine)."""
    import numpy as np
    import yaml
    from taxmeter.judgetools import graph

    tmp = Path(tempfile.mkdtemp(prefix="taxmeter-bench-")) / "default"
    tmp.mkdir(parents=True)
    cfg = graph.EncoderConfig()
    weights = graph.random_encoder_weights(cfg, seed=0)
    rng = np.random.default_rng(1)
    heads = [
        graph.DenseLayer(
            (rng.standard_normal((graph.feature_dim(cfg.hidden_size), 3)) * 0.05).astype(
                np.float32
            ),
            np.zeros(3, np.float32),
        )
    ]
    for dtype, name in (("float32", "model.onnx"), ("float16", "model.fp16.onnx")):
        model = graph.build_judge_graph(weights, heads, dtype=dtype)
        (tmp / name).write_bytes(model.SerializeToString())
    if tokenizer is None:
        from judges_fixtures import minilm_tokenizer_path

        tokenizer = minilm_tokenizer_path()
    shutil.copyfile(tokenizer, tmp / "tokenizer.json")
    from judges_fixtures import default_manifest

    manifest = default_manifest()
    manifest["input"]["max_length"] = 256
    manifest["variants"] = {"fp16": "model.fp16.onnx"}
    (tmp / "manifest.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return tmp.parent, "MiniLM-L6-shaped random-weight graph from the builder (fp32 + fp16)"


def repository(use_random: bool, repo: Path | None) -> tuple[Path, str]:
    if repo is not None:
        return repo, f"judge repository {repo} (judge 'default')"
    if not use_random:
        try:
            from taxmeter.judgetools import ensure_default_repository

            return ensure_default_repository(), "real default judge (MiniLM-L6 + trained heads)"
        except Exception as exc:  # the bench falls back, and says so
            print(f"default judge unavailable ({exc}); using a random MiniLM-shaped graph")
    from judges_fixtures import default_manifest, make_judge_graph, write_judge

    tmp = Path(tempfile.mkdtemp(prefix="taxmeter-bench-"))
    manifest = default_manifest()
    manifest["input"]["max_length"] = 256
    write_judge(
        tmp,
        "default",
        manifest=manifest,
        model=make_judge_graph(hidden=384, layers=6, heads=12, ffn=1536),
    )
    return tmp, "MiniLM-L6-shaped random-weight graph (6x384, 12 heads, FFN 1536)"


PROVIDER = "cpu"
PRECISION = "auto"


def config(repo: Path, threads: int, batch: int, delay_ms: float = 5.0) -> JudgeEngineConfig:
    providers = ["cuda", "cpu"] if PROVIDER == "cuda" else ["cpu"]
    return JudgeEngineConfig(
        repository=repo,
        providers=providers,
        intra_op_threads=threads,
        inter_op_threads=1,
        max_batch_size=batch,
        max_queue_delay_ms=delay_ms,
        queue_size=4096,
        inference_threads=1,
        precision=PRECISION,
    )


class RawLoop:
    """Bare loop: the judge's own tokenizer, then InferenceSession.run, batch by batch, with
    the engine's session settings."""

    def __init__(self, repo: Path, cfg: JudgeEngineConfig) -> None:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1)
        [self.judge] = load_repository(repo, cfg, backend_factory=onnx_backend_factory(cfg, pool))
        pool.shutdown()
        so = ort.SessionOptions()
        so.intra_op_num_threads = cfg.intra_op_threads
        so.inter_op_num_threads = cfg.inter_op_threads
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        model = self.judge.manifest.model
        cuda = PROVIDER == "cuda"
        fp16 = self.judge.manifest.variants.get("fp16")
        if fp16 and (PRECISION == "fp16" or (cuda and PRECISION == "auto")):
            model = fp16
        providers = (
            ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        )
        self.sess = ort.InferenceSession(str(self.judge.path / model), so, providers=providers)
        self.model = model
        self.active = self.sess.get_providers()[0]
        self.names = {i.name for i in self.sess.get_inputs()}
        self.batch = cfg.max_batch_size

    def run(self, items: list[JudgeInput]) -> None:
        for i in range(0, len(items), self.batch):
            feeds = self.judge.tokenizer.encode(items[i : i + self.batch])
            self.sess.run(None, {k: v for k, v in feeds.items() if k in self.names})


async def started(cfg: JudgeEngineConfig) -> JudgeEngine:
    engine = JudgeEngine.from_config(cfg, CollectorRegistry())
    await engine.start()
    await engine.wait_ready(timeout_s=600)
    return engine


async def with_submitters(engine: JudgeEngine, items: list[JudgeInput], n: int) -> None:
    it = iter(items)

    async def worker() -> None:
        for item in it:  # shared iterator: each submitter scores the next item, one at a time
            await engine.score(item)

    await asyncio.gather(*(worker() for _ in range(n)))


async def measure(repo: Path, threads: int, n: int, rounds: int, batch: int = 16) -> None:
    """Every contender runs a chunk in turn, round after round, so that load from other
    processes on the machine falls on all of them alike; times are summed per contender."""
    cfg16 = config(repo, threads, batch)
    cfg1 = config(repo, threads, 1, 0.0)
    raw = RawLoop(repo, cfg16)
    eng16, eng1 = await started(cfg16), await started(cfg1)
    print(f"raw session: {raw.model} on {raw.active}; engine: {eng16.provider('default')}")
    items64, items128 = items_of(64, n), items_of(128, n)
    raw.run(items64[:16])  # warm the shapes everyone uses
    await eng16.score_many(items64[:16])
    await eng1.score_many(items64[:16])

    async def raw_loop() -> None:  # on the loop's thread: nothing else runs meanwhile
        raw.run(items64)

    contenders: dict[str, Callable[[], Awaitable[object]]] = {
        "raw": raw_loop,
        "engine": lambda: eng16.score_many(items64),
        "dynamic": lambda: with_submitters(eng16, items64, 64),
        "single": lambda: with_submitters(eng1, items64, 64),
        "engine128": lambda: eng16.score_many(items128),
    }
    spent = dict.fromkeys(contenders, 0.0)
    for _ in range(rounds):
        for name, run in contenders.items():
            t0 = time.perf_counter()
            await run()
            spent[name] += time.perf_counter() - t0
    await eng16.aclose()
    await eng1.aclose()
    rate = {k: n * rounds / v for k, v in spent.items()}
    print(f"items per contender: {n * rounds} ({rounds} interleaved rounds of {n})")
    b = cfg16.max_batch_size
    print(
        f"[1] batch {b}, 64 tokens: raw session.run {rate['raw']:.1f} items/s, engine "
        f"{rate['engine']:.1f} items/s -> engine/raw = {rate['engine'] / rate['raw']:.2f}x"
    )
    print(
        f"[2] 64 submitters, 64 tokens: dynamic batching (max {b}) {rate['dynamic']:.1f} "
        f"items/s, one at a time {rate['single']:.1f} items/s -> "
        f"{rate['dynamic'] / rate['single']:.2f}x"
    )
    print(
        f"[3] engine, batch {b}: {rate['engine']:.1f} items/s at 64 tokens, "
        f"{rate['engine128']:.1f} items/s at 128 tokens (2 sequences per item: "
        f"{2 * rate['engine']:.0f} / {2 * rate['engine128']:.0f} sequences/s)"
    )


class InstantBackend:
    """Wraps a started judge backend: same tensors, but ``infer`` returns zeros at once, so
    the engine's own work per item (tokenising, batching, head mapping) is all that is left."""

    def __init__(self, inner: object) -> None:
        from taxmeter.judges.backend import InProcessHealth

        self._inner = inner
        self._health = InProcessHealth()
        self.provider = "cpu"

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    @property
    def blocking_infer(self) -> object:
        import numpy as np

        outs = self._inner.outputs()  # type: ignore[attr-defined]

        def run(feeds: dict[str, object]) -> dict[str, object]:
            n = next(iter(feeds.values())).shape[0]  # type: ignore[attr-defined]
            return {o.name: np.zeros((n, o.shape[1] or 1), np.float32) for o in outs}

        return run


async def overhead(repo: Path, n: int, rounds: int, batch: int) -> None:
    """[4] The engine's own cost per item: the engine with an instant backend against the
    tokeniser alone (the least a raw loop does besides session.run)."""
    from concurrent.futures import ThreadPoolExecutor

    from taxmeter.judges.repository import onnx_backend_factory

    cfg = config(repo, 1, batch, 0.0)

    def factory(c: JudgeEngineConfig, ex: ThreadPoolExecutor) -> object:
        make = onnx_backend_factory(c, ex)
        return lambda j, d, m: InstantBackend(make(j, d, m))

    engine = JudgeEngine.from_config(cfg, CollectorRegistry(), backend_factory=factory)  # type: ignore[arg-type]
    await engine.start()
    await engine.wait_ready(timeout_s=600)
    [judge] = engine._judges
    items = items_of(64, n)
    await engine.score_many(items[:batch])
    spent = {"engine": 0.0, "tokenize": 0.0}
    for _ in range(rounds):
        t0 = time.perf_counter()
        await engine.score_many(items)
        spent["engine"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            judge.tokenizer.encode(items[i : i + batch])
        spent["tokenize"] += time.perf_counter() - t0
    await engine.aclose()
    per = {k: 1e6 * v / (n * rounds) for k, v in spent.items()}
    own = per["engine"] - per["tokenize"]
    print(
        f"[4] engine with an instant backend: {per['engine']:.0f} us/item; tokenising alone "
        f"{per['tokenize']:.0f} us/item -> the engine's own work {own:.0f} us/item (batch "
        f"{batch}, {n * rounds} items); at a session cost of t per item, engine/raw >= "
        f"t / (t + {own:.0f} us)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--random", action="store_true", help="use the random MiniLM-shaped graph")
    ap.add_argument("--repo", type=Path, help="an already built repository with 'default'")
    ap.add_argument("--items", type=int, default=32, help="items per round and contender")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    ap.add_argument("--provider", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--precision", choices=["auto", "fp32", "fp16"], default="auto")
    ap.add_argument("--batch", type=int, default=16, help="engine max_batch_size and raw batch")
    ap.add_argument("--tokenizer", type=Path, help="tokenizer.json for --random (GPU machine)")
    ap.add_argument("--overhead-only", action="store_true", help="only [4], the engine's own work")
    args = ap.parse_args()
    global PROVIDER, PRECISION
    PROVIDER, PRECISION = args.provider, args.precision
    if args.random and (args.provider == "cuda" or args.tokenizer is not None):
        repo, label = random_repository(args.tokenizer)
    else:
        repo, label = repository(args.random, args.repo)
    print(f"model: {label}")
    print(f"load average before the run: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    print(
        f"machine: {platform.machine()}, onnxruntime {ort.__version__}, "
        f"provider={args.provider}, precision={args.precision}, "
        f"intra_op_threads={args.threads}, inference_threads=1, batch={args.batch}"
    )

    if args.overhead_only:
        asyncio.run(overhead(repo, max(args.items, 256), args.rounds, args.batch))
        return
    asyncio.run(measure(repo, args.threads, args.items, args.rounds, args.batch))
    asyncio.run(overhead(repo, max(args.items, 256), args.rounds, args.batch))
    print(f"load average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
