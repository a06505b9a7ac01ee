"""Aggregation cost per pair and scrape cost, measured side by side in one run.

    .venv/bin/python bench/aggregation.py

Prints: µs per ``observe`` (a realistic pair: latency, TTFT, tokens, 5 % noise repeats),
the time of one full scrape (``generate_latest``) with 50 routes × 3 windows, and the
series count per pod at 20 routes. Targets: < 50 µs per pair, < 100 ms per scrape.
"""

from __future__ import annotations

import dataclasses
import random
import time

from prometheus_client import CollectorRegistry, generate_latest
from taxmeter.tax import TaxAggregator, TaxCollector, TaxConfig
from taxmeter.types import (
    Arm,
    ArmOutcome,
    ArmResult,
    HeadScore,
    PairReference,
    ReferenceLabel,
    ScoredPair,
    ShadowPair,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def _registered(registry: CollectorRegistry, config: TaxConfig, *, clock: Clock) -> TaxAggregator:
    """An aggregator with its collector on ``registry`` (what ``app.py`` does)."""
    agg = TaxAggregator(config, clock=clock)
    registry.register(TaxCollector(agg))
    return agg


def _scores(rng: random.Random) -> dict[str, HeadScore]:
    q = rng.random()
    r = rng.random() < 0.1
    return {
        "default.quality": HeadScore(q, q > 0.5),
        "default.refusal": HeadScore(float(r), r),
        "default.unsafe": HeadScore(0.0, rng.random() < 0.05),
    }


def make_pairs(n: int, routes: int, seed: int = 1) -> list[ScoredPair]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        g = ArmResult(
            Arm.GUARDED,
            ArmOutcome.OK,
            latency_s=rng.uniform(0.2, 5),
            ttft_s=rng.uniform(0.05, 0.5),
            completion_tokens=rng.randint(10, 500),
        )
        u = ArmResult(
            Arm.UNGUARDED,
            ArmOutcome.OK,
            latency_s=rng.uniform(0.2, 5),
            ttft_s=rng.uniform(0.05, 0.5),
            completion_tokens=rng.randint(10, 500),
        )
        rep = ArmResult(Arm.GUARDED, ArmOutcome.OK) if rng.random() < 0.05 else None
        pair = ShadowPair(str(i), f"route-{i % routes}", None, "p", g, u, repeat=rep)
        out.append(ScoredPair(pair, _scores(rng), _scores(rng), _scores(rng) if rep else None))
    return out


def series_count(registry: CollectorRegistry) -> int:
    return sum(len(m.samples) for m in registry.collect())


def main() -> None:
    routes = 50
    clock = Clock()
    registry = CollectorRegistry()
    agg = _registered(registry, TaxConfig(windows=["5m", "1h", "24h"]), clock=clock)
    pairs = make_pairs(20_000, routes)
    # Warm every route and every window slot a bit (time advances 0.5 s per pair).
    t0 = time.perf_counter()
    for i, p in enumerate(pairs):
        clock.now = i * 0.5
        agg.observe(p)
    per_pair_us = (time.perf_counter() - t0) / len(pairs) * 1e6
    scrapes = []
    for _ in range(10):
        t0 = time.perf_counter()
        body = generate_latest(registry)
        scrapes.append(time.perf_counter() - t0)
    scrapes.sort()
    print(
        f"observe: {per_pair_us:.1f} us/pair over {len(pairs)} pairs "
        f"(target < 50 us: {per_pair_us / 50:.2f}x of target)"
    )
    print(
        f"scrape, {routes} routes x 3 windows: median {scrapes[5] * 1e3:.1f} ms, "
        f"max {scrapes[-1] * 1e3:.1f} ms, {len(body) / 1024:.0f} KiB "
        f"(target < 100 ms: {scrapes[5] * 1e3 / 100:.2f}x of target)"
    )
    print(f"series at {routes} routes: {series_count(registry)}")

    reg20 = CollectorRegistry()
    agg20 = _registered(reg20, TaxConfig(windows=["5m", "1h", "24h"]), clock=Clock())
    for p in make_pairs(4000, 20, seed=2):
        agg20.observe(p)
    print(f"series at 20 routes, 1 quality head, 3 windows, no categories: {series_count(reg20)}")
    reg20c = CollectorRegistry()
    agg20c = _registered(reg20c, TaxConfig(categories=[f"c{i}" for i in range(5)]), clock=Clock())
    rng = random.Random(3)
    for p in make_pairs(4000, 20, seed=2):
        sp = ShadowPair(
            p.pair.request_id,
            p.pair.route,
            f"c{rng.randint(0, 6)}",
            "p",
            p.pair.guarded,
            p.pair.unguarded,
            p.pair.repeat,
        )
        agg20c.observe(ScoredPair(sp, p.guarded, p.unguarded, p.repeat))
    print(f"series at 20 routes with 5 categories (+other): {series_count(reg20c)}")
    audit_cost()


def audit_cost() -> None:
    """Auditing off vs on (issue 10), side by side: observe µs/pair, scrape ms, series."""
    pairs = make_pairs(6000, 20, seed=4)
    ref = PairReference(ReferenceLabel(False, False, 0.8), ReferenceLabel(False, False, 0.9))
    audited = [
        dataclasses.replace(p, reference=ref) if i % 20 == 0 else p for i, p in enumerate(pairs)
    ]
    results = {}
    for label, min_pairs, stream in (
        ("off", None, pairs),
        ("on, 5 % audited", 30, audited),
        ("off (again)", None, pairs),
    ):
        reg = CollectorRegistry()
        clock = Clock()
        agg = TaxAggregator(
            TaxConfig(windows=["5m", "1h", "24h"]), clock=clock, audit_min_pairs=min_pairs
        )
        reg.register(TaxCollector(agg))
        t0 = time.perf_counter()
        for i, p in enumerate(stream):
            clock.now = i * 0.5
            agg.observe(p)
        us = (time.perf_counter() - t0) / len(stream) * 1e6
        t0 = time.perf_counter()
        for _ in range(5):
            generate_latest(reg)
        ms = (time.perf_counter() - t0) / 5 * 1e3
        results[label] = (us, ms, series_count(reg), agg.layout.size)
    base = results["off"]
    print("\nauditing (20 routes, 3 windows): observe us/pair, scrape ms, series, fields")
    for label, (us, ms, series, size) in results.items():
        print(
            f"  {label:16s} {us:6.1f} us ({us / base[0]:.2f}x)  {ms:6.1f} ms "
            f"({ms / base[1]:.2f}x)  {series} series  {size} fields"
        )
    mem = agg.layout.size * 8 * agg.config.window_slots * 3 / 1024
    print(
        f"window memory per route: {agg.layout.size} fields x {agg.config.window_slots} slots"
        f" x 3 windows = {mem:.0f} KiB"
    )


if __name__ == "__main__":
    main()
