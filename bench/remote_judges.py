"""Remote (KServe v2) vs in-process judge throughput, measured side by side in one run.

For each sidecar batch size (``JudgeEngineConfig.max_batch_size``), the same items go through
two judge engines that differ only in their backend: ONNX Runtime in-process, and the KServe v2
gRPC backend talking to Seldon MLServer (``.venv-mlserver``, the test runtime serving the
exported ``model.onnx`` with ONNX Runtime, on this same machine). Printed: items/s of each and
the ratio remote / in-process, plus the engine's mean batch size.

On a one-machine run both sides share the same CPU cores, so the ratio is the cost of going
remote (protobuf/gRPC, MLServer's Python codec, a second process), not the speed-up of a GPU
pool: it says how much sidecar-side CPU the remote path does *not* save when the pool is no
faster than the sidecar, and how batching amortises the per-call overhead.

Model: the real default judge (``taxmeter.judgetools.ensure_default_repository``) unless
``--tiny`` is given or it cannot be built; then the tiny random-weights test judge. Run:

    .venv/bin/python bench/remote_judges.py [--tiny] [--items 256] [--batch-sizes 1,4,16,32]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import sys
import tempfile
import time
from concurrent.futures import Executor
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from judges import WORDS  # noqa: E402  (bench/judges.py: one word list for both benches)
from remote_fixtures.mlserver import (  # noqa: E402
    mlserver_available,
    start_mlserver,
    write_model_settings,
)
from remote_fixtures.tiny_judge import write_tiny_judge  # noqa: E402
from taxmeter.errors import TaxmeterError  # noqa: E402
from taxmeter.judges.config import JudgeEngineConfig  # noqa: E402
from taxmeter.judges.engine import JudgeEngine  # noqa: E402
from taxmeter.judges.remote.config import KServeBackendConfig  # noqa: E402
from taxmeter.judges.remote.factory import (  # noqa: E402
    BackendFactoryFn,
    kserve_backend_factory,
)
from taxmeter.judgetools.triton_export import export_triton_repository  # noqa: E402
from taxmeter.types import JudgeInput  # noqa: E402


def items(n: int, words: int) -> list[JudgeInput]:
    out = []
    for i in range(n):
        p = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(words // 2))
        r = " ".join(WORDS[(3 * i + k) % len(WORDS)] for k in range(words))
        out.append(JudgeInput(f"{i}: {p}?", r))
    return out


def judge_repo(tiny: bool, scratch: Path) -> tuple[Path, str]:
    if not tiny:
        try:
            from taxmeter.judgetools import ensure_default_repository

            return ensure_default_repository(), "default judge (MiniLM-L6, built)"
        except Exception as exc:  # the builder may be missing or fail: fall back, say so
            print(f"(default judge unavailable: {type(exc).__name__}: {exc}; using tiny)")
    repo = scratch / "judges"
    write_tiny_judge(repo)
    return repo, "tiny random-weights judge (test fixture)"


async def throughput(engine: JudgeEngine, work: list[JudgeInput], concurrency: int) -> float:
    """Scored items per second; an item that is shed or fails is not counted (and reported)."""
    queue = list(work)
    failed: dict[str, int] = {}

    async def worker() -> None:
        while queue:
            item = queue.pop()
            try:
                await engine.score(item)
            except TaxmeterError as exc:
                key = type(exc).__name__
                failed[key] = failed.get(key, 0) + 1

    await engine.score(work[0])  # warm
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    if failed:
        print(f"  (not scored: {failed})")
    return (len(work) - sum(failed.values())) / elapsed


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="taxmeter-bench-remote-"))
    repo, model_label = judge_repo(args.tiny, scratch)
    pool = scratch / "pool"
    export_triton_repository(repo, pool, judges=["default"], instance_kind="KIND_CPU")
    write_model_settings(pool / "default", "default", intra_op_threads=args.threads)
    server = start_mlserver(pool, ["default"])
    work = items(args.items, args.words)
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}; "
        f"python {platform.python_version()}"
    )
    print(
        f"model: {model_label}; {args.items} items of ~{args.words} words; "
        f"{args.concurrency} concurrent submitters; ORT intra-op threads {args.threads} "
        "on both sides; MLServer parallel_workers 0"
    )
    print(f"{'batch':>5} {'in-process/s':>13} {'remote/s':>9} {'remote/in-proc':>15}")
    try:
        for batch in args.batch_sizes:
            common = {
                "repository": repo,
                "judges": ["default"],
                "max_batch_size": batch,
                "max_queue_delay_ms": 5.0,
                "intra_op_threads": args.threads,
                "inference_threads": 2,
            }
            local = JudgeEngine.from_config(
                JudgeEngineConfig.model_validate(common), CollectorRegistry()
            )
            kcfg = KServeBackendConfig(target=server.target, timeout_s=30.0)
            reg = CollectorRegistry()

            def remote_backends(
                _config: JudgeEngineConfig,
                _executor: Executor,
                kcfg: KServeBackendConfig = kcfg,
                reg: CollectorRegistry = reg,
            ) -> BackendFactoryFn:
                return kserve_backend_factory(kcfg, reg, environ={})

            remote = JudgeEngine.from_config(
                JudgeEngineConfig.model_validate({**common, "backend": "kserve"}),
                reg,
                backend_factory=remote_backends,
            )
            rates = []
            for engine in (local, remote):
                await engine.start()
                await engine.wait_ready(timeout_s=300)
                rates.append(await throughput(engine, work, args.concurrency))
                await engine.aclose()
            print(f"{batch:>5} {rates[0]:>13.1f} {rates[1]:>9.1f} {rates[1] / rates[0]:>14.2f}x")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="use the tiny random judge")
    parser.add_argument("--items", type=int, default=256)
    parser.add_argument("--words", type=int, default=48)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--batch-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16, 32]
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if not mlserver_available():
        raise SystemExit(".venv-mlserver is absent: run scripts/setup_mlserver_venv.sh")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
