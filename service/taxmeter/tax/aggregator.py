"""The tax aggregator: scored pairs in, counters and windowed estimates out.

``observe`` turns one ``ScoredPair`` into a sparse update (field indices and values of the
shared :class:`~taxmeter.tax.layout.Layout`, built by the pure functions of
``tax/update.py`` outside the lock) and applies it, under one lock, to the route's all-time
counters, its sliding windows and its category counters. So every pair-level counter moves
together: a scrape never sees a pair half-counted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import structlog

from taxmeter.tax.audit_stats import (
    audit_layout,
    build_audit_update,
    centred_audit_terms,
    reference_judgement,
)
from taxmeter.tax.config import TaxConfig
from taxmeter.tax.layout import Layout
from taxmeter.tax.sketch import FloatArray
from taxmeter.tax.summary import RouteSnapshot, RouteSummary, summarize_window
from taxmeter.tax.update import Unscorable, as_arrays, build_update, centred_terms, judge_pair
from taxmeter.tax.windows import SlidingWindows
from taxmeter.types import Clock, ScoredPair

log = structlog.get_logger("taxmeter.tax")

OTHER = "other"


@dataclass(slots=True)
class _RouteState:
    cum: FloatArray
    windows: SlidingWindows
    categories: dict[str, FloatArray]


class TaxAggregator:
    """Paired statistics per route; implements ``types.PairObserver``.

    Thread-safe: ``observe`` may be called from any thread; ``snapshot`` (the collector's
    input, :class:`~taxmeter.tax.collector.TaxCollector`, registered by ``app.py``) copies
    state under the same lock; estimates are computed outside it.
    """

    def __init__(
        self, config: TaxConfig, *, clock: Clock, audit_min_pairs: int | None = None
    ) -> None:
        """``audit_min_pairs``: auditing on (judge-error-corrected figures from that many
        audited pairs in a window on); ``None``: off, and nothing changes in cost or output."""
        self.config = config
        self.audit_min_pairs = audit_min_pairs
        self.layout = (
            Layout(config.quality_heads)
            if audit_min_pairs is None
            else audit_layout(config.quality_heads)
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._routes: dict[str, _RouteState] = {}
        self._unscored: dict[str, dict[str, int]] = {}
        self._window_names = list(config.window_seconds)
        self._window_lengths = [float(s) for s in config.window_seconds.values()]
        self._categories = frozenset(config.categories)

    # -- input ------------------------------------------------------------------------------

    def observe(self, scored: ScoredPair) -> None:
        """Count one complete, scored pair (cheap; never raises for a well-formed pair).

        The update is built outside the lock (pure functions of ``tax/update.py``); only the
        two running-mean-centred terms and the additions happen under it.
        """
        pair = scored.pair
        try:
            judged = judge_pair(self.config, scored)
        except Unscorable as exc:
            self._count_unscored(pair.route, exc.reason)
            return
        layout = self.layout
        update = build_update(layout, judged, pair, self.config.tie_epsilon)
        audit = None
        if layout.audit is not None:
            heads = self.config.quality_heads
            ref = (
                reference_judgement(scored.reference, pair, heads)
                if scored.reference is not None
                else None
            )
            audit = build_audit_update(layout, judged, ref, heads)
        now = self._clock.monotonic()
        with self._lock:
            route = self._route_key_locked(pair.route)
            state = self._state_locked(route, now)
            entries = update.entries + centred_terms(layout, state.cum, update)
            if audit is not None:
                entries += audit.entries + centred_audit_terms(layout, state.cum, audit)
            ia, va = as_arrays(entries)
            state.cum[ia] += va
            state.windows.add(ia, va, now)
            if self._categories:
                cat = pair.category if pair.category in self._categories else OTHER
                cat_vec = state.categories.get(cat)
                if cat_vec is None:
                    cat_vec = state.categories[cat] = np.zeros(self.layout.size)
                cat_vec[ia] += va

    def observe_reference(self, scored: ScoredPair) -> bool:
        """Add the reference labels of a pair aggregated earlier without them (labels from
        people arrive hours later): only the audited sums move, in the current window slot.
        False when auditing is off or the pair is unscorable (it was not counted then)."""
        if self.layout.audit is None or scored.reference is None:
            return False
        try:
            judged = judge_pair(self.config, scored)
        except Unscorable:
            return False
        heads = self.config.quality_heads
        ref = reference_judgement(scored.reference, scored.pair, heads)
        audit = build_audit_update(self.layout, judged, ref, heads, late=True)
        assert audit is not None
        now = self._clock.monotonic()
        with self._lock:
            route = self._route_key_locked(scored.pair.route)
            state = self._state_locked(route, now)
            ia, va = as_arrays(audit.entries + centred_audit_terms(self.layout, state.cum, audit))
            state.cum[ia] += va
            state.windows.add(ia, va, now)
        return True

    def _count_unscored(self, route_label: str, reason: str) -> None:
        with self._lock:
            route = self._route_key_locked(route_label)
            counts = self._unscored.setdefault(route, {})
            counts[reason] = counts.get(reason, 0) + 1
            first = counts[reason] == 1
        if first:  # once per route and reason; the counter carries the rest
            log.warning(
                "pair_unscored", route=route, reason=reason, heads=list(self.config.quality_heads)
            )

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
                    out.append(
                        RouteSnapshot(route, empty, [empty] * len(self._window_names), {}, unscored)
                    )
                    continue
                out.append(
                    RouteSnapshot(
                        route,
                        state.cum.copy(),
                        state.windows.totals(now),
                        {c: v.copy() for c, v in state.categories.items()},
                        unscored,
                    )
                )
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
            pairs_total=int(cum[f.complete]),
            eligible_total=int(cum[f.eligible]),
            windows={
                name: summarize_window(
                    self.layout,
                    name,
                    t,
                    alpha=self.config.alpha,
                    min_pairs_for_bounds=self.config.min_pairs_for_bounds,
                    min_audited=self.audit_min_pairs,
                )
                for name, t in zip(self._window_names, totals, strict=True)
            },
        )
