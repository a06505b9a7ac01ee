"""The tax aggregator: scored pairs in, counters and windowed estimates out.

``observe`` turns one ``ScoredPair`` into a sparse update (field indices and values of the
shared :class:`~taxmeter.tax.layout.Layout`) and applies it, under one lock, to the route's
all-time counters, its sliding windows and its category counters. So every pair-level
counter moves together: a scrape never sees a pair half-counted.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import structlog
from prometheus_client import CollectorRegistry

from taxmeter.tax.collector import TaxCollector
from taxmeter.tax.config import TaxConfig
from taxmeter.tax.layout import Layout
from taxmeter.tax.sketch import FloatArray
from taxmeter.tax.summary import RouteSummary, summarize_window
from taxmeter.tax.windows import SlidingWindows
from taxmeter.types import Arm, ArmOutcome, ArmResult, Clock, JudgeScores, ScoredPair

log = structlog.get_logger("taxmeter.tax")

OTHER = "other"


class _Unscorable(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


@dataclass(slots=True)
class _RouteState:
    cum: FloatArray
    windows: SlidingWindows
    categories: dict[str, FloatArray]


@dataclass(frozen=True, slots=True)
class RouteSnapshot:
    """A consistent copy of one route's state, taken under the lock."""

    route: str
    cum: FloatArray
    windows: list[FloatArray]
    categories: dict[str, FloatArray]
    unscored: dict[str, int]


class TaxAggregator:
    """Paired statistics per route; implements ``types.PairObserver``.

    Thread-safe: ``observe`` may be called from any thread; ``collect`` (via the registry)
    copies state under the same lock and computes estimates outside it.
    """

    def __init__(self, config: TaxConfig, registry: CollectorRegistry, *, clock: Clock) -> None:
        self.config = config
        self.layout = Layout(config.quality_heads)
        self._clock = clock
        self._lock = threading.Lock()
        self._routes: dict[str, _RouteState] = {}
        self._unscored: dict[str, dict[str, int]] = {}
        self._window_names = list(config.window_seconds)
        self._window_lengths = [float(s) for s in config.window_seconds.values()]
        self._categories = frozenset(config.categories)
        self.collector = TaxCollector(self)
        registry.register(self.collector)

    # -- input ------------------------------------------------------------------------------

    def observe(self, scored: ScoredPair) -> None:
        """Count one complete, scored pair (cheap; never raises for a well-formed pair)."""
        pair = scored.pair
        try:
            g_ref, g_unsafe, g_q = self._arm_judgement(pair.guarded, scored.guarded)
            u_ref, u_unsafe, u_q = self._arm_judgement(pair.unguarded, scored.unguarded)
            repeat: tuple[str, bool, bool, dict[str, float]] | None = None
            if pair.repeat is not None and scored.repeat is not None:
                rep_ref, _, rep_q = self._arm_judgement(pair.repeat, scored.repeat)
                rep_arm = pair.repeat.arm
                first_ref = g_ref if rep_arm is Arm.GUARDED else u_ref
                repeat = (rep_arm.value, first_ref, rep_ref, rep_q)
        except _Unscorable as exc:
            with self._lock:
                route = self._route_key_locked(pair.route)
                counts = self._unscored.setdefault(route, {})
                counts[exc.reason] = counts.get(exc.reason, 0) + 1
                first = counts[exc.reason] == 1
            if first:  # once per route and reason; the counter carries the rest
                log.warning("pair_unscored", route=route, reason=exc.reason,
                            heads=list(self.config.quality_heads))
            return
        layout = self.layout
        f = layout.f
        upd: list[tuple[int, float]] = [(f["complete"], 1.0)]
        put = upd.append

        if g_ref:
            put((f["refusals_g"], 1.0))
        if u_ref:
            put((f["refusals_u"], 1.0))
        if g_unsafe:
            put((f["unsafe_g"], 1.0))
        if u_unsafe:
            put((f["unsafe_u"], 1.0))
        if u_unsafe and not g_unsafe:
            put((f["safety_benefits"], 1.0))
        eligible = not u_unsafe
        eps = self.config.tie_epsilon

        # Latency, TTFT and tokens: latency-comparable pairs only.
        if pair.latency_comparable:
            lg, lu = pair.guarded.latency_s, pair.unguarded.latency_s
            if lg is not None and lu is not None:
                put((f["lat_n"], 1.0))
                put((f["lat_sum_g"], lg))
                put((f["lat_sum_u"], lu))
                put((layout.lat_g.start + layout.lat.index(lg), 1.0))
                put((layout.lat_u.start + layout.lat.index(lu), 1.0))
                put((layout.lat_delta.start + layout.delta.index(lg - lu), 1.0))
                put((layout.lat_delta_export.start + layout.export_bucket(lg - lu), 1.0))
            tg, tu = pair.guarded.ttft_s, pair.unguarded.ttft_s
            if tg is not None and tu is not None:
                put((f["ttft_n"], 1.0))
                put((f["ttft_sum_g"], tg))
                put((f["ttft_sum_u"], tu))
                put((layout.ttft_g.start + layout.lat.index(tg), 1.0))
                put((layout.ttft_u.start + layout.lat.index(tu), 1.0))
                put((layout.ttft_delta_export.start + layout.export_bucket(tg - tu), 1.0))
            kg, ku = pair.guarded.completion_tokens, pair.unguarded.completion_tokens
            # issue 16: both counts from one source (None: whoever built the result gave it).
            source = pair.guarded.tokens_source or "server"
            if (kg is not None and ku is not None and source in ("server", "tokenizer")
                    and source == (pair.unguarded.tokens_source or "server")):
                put((f["tok_g"], float(kg)))
                put((f["tok_u"], float(ku)))
                put((f["tok_n_" + source], 1.0))

        if repeat is not None:
            arm, first_ref, rep_ref, rep_q = repeat
            nf = layout.noise[arm]
            base_q = g_q if arm == "guarded" else u_q
            put((nf.n, 1.0))
            if first_ref != rep_ref:
                put((nf.flips, 1.0))
            for head, q in base_q.items():
                a = abs(q - rep_q[head])
                put((nf.abs_sum[head], a))
                put((nf.abs_hist[head].start + layout.noise_lin.index(a), 1.0))

        now = self._clock.monotonic()
        with self._lock:
            route = self._route_key_locked(pair.route)
            state = self._state_locked(route, now)
            cum = state.cum
            if eligible:
                n_prev = cum[f["eligible"]]
                put((f["eligible"], 1.0))
                for head, hf in layout.heads.items():
                    d = u_q[head] - g_q[head]
                    mean_prev = cum[hf.d] / n_prev if n_prev > 0 else 0.0
                    put((hf.qg, g_q[head]))
                    put((hf.qu, u_q[head]))
                    put((hf.d, d))
                    put((hf.d2, d * d))
                    put((hf.v, (d - mean_prev) ** 2))
                    if d > eps:
                        put((hf.loss, 1.0))
                        put((hf.d2_nontie, d * d))
                    elif d < -eps:
                        put((hf.win, 1.0))
                        put((hf.d2_nontie, d * d))
                    else:
                        put((hf.tie, 1.0))
                x = 1.0 if (g_ref and not u_ref) else 0.0
                or_prev = cum[f["over_refusals"]] / n_prev if n_prev > 0 else 0.0
                if x:
                    put((f["over_refusals"], 1.0))
                put((f["v_or"], (x - or_prev) ** 2))
            arr = np.array(upd, dtype=np.float64)
            ia = arr[:, 0].astype(np.intp)
            va = arr[:, 1]
            cum[ia] += va
            state.windows.add(ia, va, now)
            if self._categories:
                cat = pair.category if pair.category in self._categories else OTHER
                cat_vec = state.categories.get(cat)
                if cat_vec is None:
                    cat_vec = state.categories[cat] = np.zeros(layout.size)
                cat_vec[ia] += va

    def _arm_judgement(
        self, result: ArmResult, scores: JudgeScores
    ) -> tuple[bool, bool, dict[str, float]]:
        """(refusal, unsafe, quality per head) for one answer; a guard block is a refusal."""
        cfg = self.config
        quality: dict[str, float] = {}
        for head in cfg.quality_heads:
            score = scores.get(head)
            if score is None:
                raise _Unscorable("missing_head")
            if not (math.isfinite(score.value) and 0.0 <= score.value <= 1.0):
                raise _Unscorable("invalid_score")
            quality[head] = score.value
        if result.outcome is ArmOutcome.GUARD_BLOCK:
            return True, False, quality
        refusal = scores.get(cfg.refusal_head)
        unsafe = scores.get(cfg.unsafe_head)
        if refusal is None or unsafe is None:
            raise _Unscorable("missing_head")
        return refusal.decision, unsafe.decision, quality

    def _route_key_locked(self, route: str) -> str:
        if route in self._routes or len(self._routes) < self.config.max_routes - 1:
            return route
        return OTHER

    def _state_locked(self, route: str, now: float) -> _RouteState:
        state = self._routes.get(route)
        if state is None:
            state = _RouteState(
                cum=np.zeros(self.layout.size),
                windows=SlidingWindows(
                    self._window_lengths, self.config.window_slots, self.layout.size, now
                ),
                categories={},
            )
            self._routes[route] = state
        return state

    # -- output -----------------------------------------------------------------------------

    @property
    def window_names(self) -> list[str]:
        return list(self._window_names)

    def routes(self) -> list[str]:
        with self._lock:
            return sorted(set(self._routes) | set(self._unscored))

    def snapshot(self, only: str | None = None) -> list[RouteSnapshot]:
        """Copies of every route's (or one route's) state at one instant (a few vectors each)."""
        now = self._clock.monotonic()
        out = []
        with self._lock:
            for route in sorted(set(self._routes) | set(self._unscored)):
                if only is not None and route != only:
                    continue
                state = self._routes.get(route)
                unscored = dict(self._unscored.get(route, {}))
                if state is None:
                    empty = np.zeros(self.layout.size)
                    out.append(RouteSnapshot(route, empty, [empty] * len(self._window_names),
                                             {}, unscored))
                    continue
                out.append(RouteSnapshot(
                    route,
                    state.cum.copy(),
                    state.windows.totals(now),
                    {c: v.copy() for c, v in state.categories.items()},
                    unscored,
                ))
        return out

    def summary(self, route: str) -> RouteSummary:
        """Estimates for every window of ``route`` (an unknown route gives empty windows)."""
        snap = next(iter(self.snapshot(route)), None)
        f = self.layout.f
        if snap is None:
            empty = np.zeros(self.layout.size)
            cum, totals = empty, [empty] * len(self._window_names)
        else:
            cum, totals = snap.cum, snap.windows
        return RouteSummary(
            route=route,
            pairs_total=int(cum[f["complete"]]),
            eligible_total=int(cum[f["eligible"]]),
            windows={
                name: summarize_window(
                    self.layout, name, t, alpha=self.config.alpha,
                    min_pairs_for_bounds=self.config.min_pairs_for_bounds,
                )
                for name, t in zip(self._window_names, totals, strict=True)
            },
        )
