"""The whole sidecar in one process: pairs/s end to end, and where the time goes.

gRPC Mirror ingress → sampler (rate 1) → shadow dispatcher → two instant local endpoints (the
demo's simulated personas with ``latency_scale`` 0) → judge engine → tax aggregator. The
traffic generator sends ``--pairs`` requests as fast as the ingress takes them; the run ends
when every sampled job has ended (completed, failed or shed). Then, from the app's own
registry: jobs by outcome, judge batches (count, mean size, inference time, queue wait),
items deduplicated, shadow call latency, and the process CPU time next to the wall time. On a
shared machine the CPU milliseconds per pair compare variants better than pairs/s (the other
processes' load changes between runs); ``--variant plain,opt,plain,opt`` interleaves runs.

It also measures what sharing the prompt between the answers of a pair would save in encoder
tokens (the dual judge encodes the prompt once per answer today): answers to the same prompts
are fetched from the endpoints and tokenised with the judge's tokenizer.

Judges: the built default judge (``--repo``, default the ``taxmeter judges build`` cache),
``--random`` a MiniLM-L6-shaped random-weight judge. Run:

    .venv/bin/python bench/pipeline.py [--pairs 200] [--threads 2] [--optimize]
                                       [--variant auto|plain|opt|int8] [--random | --repo DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from taxmeter.app import App  # noqa: E402
from taxmeter.demo.config import demo_document_from_dict  # noqa: E402
from taxmeter.demo.endpoints import SimulatedEndpoint  # noqa: E402
from taxmeter.demo.run import deep_merge, default_document  # noqa: E402
from taxmeter.demo.traffic import PlannedRequest, TrafficGenerator, TrafficPlan  # noqa: E402
from taxmeter.judges.manifest import load_manifest  # noqa: E402
from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer  # noqa: E402
from taxmeter.telemetry.logging import configure_logging  # noqa: E402
from taxmeter.types import JudgeInput  # noqa: E402


def judges_repository(args: argparse.Namespace) -> tuple[Path, str]:
    if args.random:
        from judges import random_repository

        repo, label = random_repository(None)
    elif args.repo is not None:
        repo, label = args.repo, f"judge repository {args.repo}"
    else:
        from taxmeter.judgetools.repository import default_repository_path

        repo = default_repository_path()
        if not (repo / "default" / "manifest.yaml").is_file():
            raise SystemExit(
                f"no built default judge in {repo}: run `taxmeter judges build` or use --random"
            )
        label = f"default judge (builder version {load_manifest(repo / 'default').version})"
    if args.optimize:
        from taxmeter.judgetools.optimize import optimize_repository

        copy = Path(tempfile.mkdtemp(prefix="taxmeter-pipeline-"))
        shutil.copytree(repo, copy, dirs_exist_ok=True)
        t0 = time.perf_counter()
        optimize_repository(copy)
        label += f", optimised copy ({time.perf_counter() - t0:.0f} s)"
        repo = copy
    return repo, label


def document(args: argparse.Namespace, repo: Path, g_url: str, u_url: str) -> dict[str, Any]:
    doc = default_document()
    demo_routes = doc["demo"].get("routes")
    if isinstance(demo_routes, list):
        doc["routes"] = list(dict.fromkeys([*doc["routes"], *(r["name"] for r in demo_routes)]))
    over: dict[str, Any] = {
        "ingress": {"host": "127.0.0.1", "grpc_port": 0, "http_port": 0},
        "sampling": {
            "rate": 1.0,
            "max_shadows_per_s": 100_000,
            "burst_shadows": 100_000,
            "adaptive": False,
        },
        "shadow": {
            "guarded": {"base_url": g_url},
            "unguarded": {"base_url": u_url},
            "queue_size": args.pairs + 16,
            "concurrency": args.concurrency,
            "noise_floor_rate": 0.0,
        },
        "judges": {
            "repository": str(repo),
            "intra_op_threads": args.threads,
            "max_batch_size": args.batch,
            "variant": args.variant,
        },
        "telemetry": {"metrics_host": "127.0.0.1", "metrics_port": 0, "log_level": "error"},
        "demo": {"rate_per_s": 10_000.0, "latency_scale": 0.0},
    }
    return deep_merge(doc, over)


def metric(app: App, name: str, **labels: str) -> float:
    """Sum of every sample ``name`` whose labels include ``labels``."""
    total = 0.0
    for family in app.registry.collect():
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


async def wait_done(app: App, sampled: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if metric(app, "taxmeter_shadow_jobs_total") >= sampled:
            return time.perf_counter()
        await asyncio.sleep(0.05)
    raise SystemExit(f"not every sampled job ended within {timeout_s} s")


class UniquePlan(TrafficPlan):
    """The demo's request mix with a request number appended to each prompt: the demo draws
    from a small prompt pool and its personas answer a prompt the same way every time, so
    without this most items of a batch would be identical and deduplicated by the engine."""

    def next(self) -> PlannedRequest:
        planned = super().next()
        return dataclasses.replace(planned, prompt=f"{planned.prompt} (request {planned.index})")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


async def prompt_sharing(
    g_url: str, u_url: str, plan: TrafficPlan, n: int, tokenizer: JudgeTokenizer
) -> tuple[float, float]:
    """Encoder tokens per pair: (prompt encoded per answer, prompt encoded once per pair)."""
    separate = shared = 0
    async with aiohttp.ClientSession() as http:
        for i in range(n):
            planned = plan.next()
            body = planned.body(seed=i)
            body["stream"] = False
            answers = []
            for url in (g_url, u_url):
                async with http.post(f"{url}/chat/completions", json=body) as resp:
                    payload = await resp.json()
                choices = payload.get("choices") or [{}]
                answers.append(str((choices[0].get("message") or {}).get("content") or ""))
            feeds = tokenizer.encode([JudgeInput(planned.prompt, a) for a in answers])
            p = int(feeds["prompt_attention_mask"][0].sum())
            r = [int(x) for x in feeds["response_attention_mask"].sum(axis=1)]
            separate += len(answers) * p + sum(r)
            shared += p + sum(r)
    return separate / n, shared / n


async def run(args: argparse.Namespace) -> None:
    repo, label = judges_repository(args)
    variants = args.variant.split(",")
    print(
        f"judges: {label}; variants {variants}, intra_op_threads={args.threads}, "
        f"max_batch_size={args.batch}"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, onnxruntime {ort.__version__}"
        f"; load average before: {os.getloadavg()[0]:.1f}"
    )
    configure_logging("error", "console")
    base = demo_document_from_dict(default_document(), {})
    demo = base.demo
    guarded = SimulatedEndpoint("guarded", demo.routes, demo.seed, latency_scale=0.0)
    unguarded = SimulatedEndpoint("unguarded", demo.routes, demo.seed, latency_scale=0.0)
    g_url, u_url = await guarded.start(), await unguarded.start()
    runs: dict[str, list[tuple[float, float]]] = {}
    try:
        for variant in variants:  # a variant named twice runs twice (interleave: a,b,a,b)
            args.variant = variant
            runs.setdefault(variant, []).append(await one_run(args, repo, g_url, u_url))
        if len(runs) > 1:
            first = variants[0]

            def mean(v: str, i: int) -> float:
                return sum(r[i] for r in runs[v]) / len(runs[v])

            print(
                "\nside by side (mean of each variant's runs): "
                + ", ".join(
                    f"{v} {mean(v, 0):.1f} pairs/s ({mean(v, 0) / mean(first, 0):.2f}x), "
                    f"{mean(v, 1):.0f} CPU ms/pair ({mean(first, 1) / mean(v, 1):.2f}x fewer)"
                    for v in runs
                )
            )
        parsed = demo_document_from_dict(document(args, repo, g_url, u_url), {})
        name = sorted(p.name for p in repo.iterdir() if (p / "manifest.yaml").is_file())[0]
        manifest = load_manifest(repo / name)
        if manifest.input.kind == "dual":
            tok = JudgeTokenizer(
                load_tokenizer("bench", repo / name / manifest.tokenizer),
                kind="dual",
                max_length=manifest.input.max_length,
            )
            plan = TrafficPlan(parsed.demo) if args.demo_prompts else UniquePlan(parsed.demo)
            per_answer, once = await prompt_sharing(g_url, u_url, plan, args.share_sample, tok)
            print(
                f"prompt sharing ({args.share_sample} demo prompts, 2 answers each, "
                f"max_length {manifest.input.max_length}): {per_answer:.1f} encoder tokens "
                f"per pair with the prompt encoded per answer, {once:.1f} with it encoded "
                f"once -> {1 - once / per_answer:.1%} fewer"
            )
    finally:
        await guarded.aclose()
        await unguarded.aclose()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


async def one_run(
    args: argparse.Namespace, repo: Path, g_url: str, u_url: str
) -> tuple[float, float]:
    parsed = demo_document_from_dict(document(args, repo, g_url, u_url), {})
    config, demo = parsed.config, parsed.demo
    app = App(config, env={}, serve_metrics=False)
    try:
        t_load = time.perf_counter()
        ports = await app.start()
        await app.engine.wait_ready(timeout_s=600)
        print(
            f"\n== variant {args.variant}: judges warm in {time.perf_counter() - t_load:.1f} s "
            f"(provider {app.judge_provider()})"
        )
        traffic = TrafficGenerator(f"127.0.0.1:{ports.grpc}", demo, max_in_flight=args.pairs + 1)
        if not args.demo_prompts:
            traffic._plan = UniquePlan(demo)  # a bench's liberty: the generator's own plan
        cpu0, t0 = time.process_time(), time.perf_counter()
        await traffic.run(count=args.pairs)
        sent_s = time.perf_counter() - t0
        stats = traffic.stats()
        if stats.overrun or stats.errors:
            print(f"traffic: {stats.overrun} sends skipped, {stats.errors} errors")
        t_end = await wait_done(app, stats.sampled, timeout_s=args.timeout)
        wall, cpu = t_end - t0, time.process_time() - cpu0
        await traffic.aclose()
        return report(app, stats.sampled, wall, cpu, sent_s)
    finally:
        await app.stop()


def report(app: App, sampled: int, wall: float, cpu: float, sent_s: float) -> tuple[float, float]:
    done = {
        o: metric(app, "taxmeter_shadow_jobs_total", outcome=o)
        for o in ("completed", "failed", "shed")
    }
    judge = app.engine.judge_names[0]
    batches = metric(app, "taxmeter_judge_batch_size_count", judge=judge)
    items = metric(app, "taxmeter_judge_batch_size_sum", judge=judge)
    infer = metric(app, "taxmeter_judge_inference_seconds_sum", judge=judge)
    queue = metric(app, "taxmeter_judge_queue_seconds_sum", judge=judge)
    dedup = metric(app, "taxmeter_judge_deduplicated_items_total", judge=judge)
    calls = metric(app, "taxmeter_shadow_latency_seconds_count")
    call_s = metric(app, "taxmeter_shadow_latency_seconds_sum")
    wait = metric(app, "taxmeter_shadow_queue_wait_seconds_sum")
    waits = metric(app, "taxmeter_shadow_queue_wait_seconds_count")
    print(
        f"\n{sampled} sampled pairs (sent in {sent_s:.1f} s): "
        + ", ".join(f"{k} {v:.0f}" for k, v in done.items())
    )
    cpu_ms = 1000 * cpu / max(done["completed"], 1)
    print(
        f"end to end: {done['completed'] / wall:.1f} pairs/s ({wall:.1f} s wall), "
        f"{cpu_ms:.0f} ms of process CPU per pair"
    )
    print(
        json.dumps(
            {
                "process_cpu_s": round(cpu, 1),
                "cpu_per_wall": round(cpu / wall, 2),
                "judge_items": int(items),
                "judge_batches": int(batches),
                "judge_mean_batch": round(items / max(batches, 1), 1),
                "judge_inference_s": round(infer, 1),
                "judge_inference_share_of_wall": round(infer / wall, 2),
                "judge_inference_ms_per_item": round(1000 * infer / max(items, 1), 1),
                "judge_mean_queue_wait_s": round(queue / max(items, 1), 2),
                "judge_items_deduplicated": int(dedup),
                "shadow_calls": int(calls),
                "shadow_mean_call_ms": round(1000 * call_s / max(calls, 1), 1),
                "shadow_mean_queue_wait_s": round(wait / max(waits, 1), 2),
            },
            indent=1,
        )
    )
    return done["completed"] / wall, cpu_ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=200, help="mirror requests to send (all sampled)")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads")
    ap.add_argument("--batch", type=int, default=16, help="judges.max_batch_size")
    ap.add_argument("--concurrency", type=int, default=32, help="shadow.concurrency")
    ap.add_argument(
        "--variant", default="auto", help="judges.variant; a comma-separated list runs each in turn"
    )
    ap.add_argument("--repo", type=Path, help="judge repository (default: the built default)")
    ap.add_argument("--random", action="store_true", help="MiniLM-shaped random-weight judge")
    ap.add_argument(
        "--optimize",
        action="store_true",
        help="run `taxmeter judges optimize` on a temporary copy of the judges first",
    )
    ap.add_argument(
        "--share-sample",
        type=_positive_int,
        default=100,
        help="demo prompts for the prompt-sharing token count",
    )
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument(
        "--demo-prompts",
        action="store_true",
        help="the demo's prompts as they are (repeats: the engine deduplicates "
        "identical items); default: each prompt made unique",
    )
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    main()
