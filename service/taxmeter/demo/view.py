"""The demo's live terminal view: per route, what taxmeter measures beside what the simulated
guarded persona was set to do (so the expected values are known)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client.registry import CollectorRegistry

from taxmeter.config import Config
from taxmeter.demo.config import DemoConfig
from taxmeter.tax.estimators import Interval

if TYPE_CHECKING:
    from taxmeter.app import App


def histogram_quantile(
    registry: CollectorRegistry, name: str, labels: dict[str, str], q: float
) -> float | None:
    """Prometheus' histogram_quantile over one series' cumulative buckets (None when empty)."""
    buckets: list[tuple[float, float]] = []
    for family in registry.collect():
        if family.name != name:
            continue
        for s in family.samples:
            if s.name == name + "_bucket" and all(s.labels.get(k) == v for k, v in labels.items()):
                buckets.append((float(s.labels["le"]), s.value))
    if not buckets:
        return None
    buckets.sort()
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            span = count - prev_count
            frac = (rank - prev_count) / span if span > 0 else 0.0
            return prev_le + (le - prev_le) * frac
        prev_le, prev_count = le, count
    return prev_le


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "—" if v is None else format(v, spec)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def _iv(i: Interval | None, pct: bool = False) -> str:
    if i is None:
        return "[—]"
    if pct:
        return f"[{100 * i.low:.1f}, {100 * i.high:.1f}]"
    return f"[{i.low:+.3f}, {i.high:+.3f}]"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{1000 * v:.0f}"


def _rows(app: App, config: Config, demo: DemoConfig) -> list[dict[str, Any]]:
    snap = app.ledger.snapshot()
    head = config.tax.quality_heads[0]
    window = config.tax.windows[-1]
    rows = []
    for r in demo.routes:
        route = r.name if r.name in config.routes else "other"
        summary = app.aggregator.summary(route)
        w = summary.windows.get(window)
        qs = w.quality.get(head) if w is not None else None
        lat = {
            (arm, q): histogram_quantile(
                app.registry, "taxmeter_shadow_latency_seconds", {"arm": arm, "route": route}, q
            )
            for arm in ("guarded", "unguarded")
            for q in (0.5, 0.95)
        }
        mirrors = snap.route_requests(route)
        completed = snap.jobs.get((route, "completed"), 0)
        rows.append(
            {
                "route": route,
                "set_refusal": r.guarded_refusal_share,
                "set_latency_ms": r.guarded_added_latency_ms,
                "mirrors": mirrors,
                "sampled": snap.sampled(route),
                "pairs": summary.pairs_total,
                "eligible": summary.eligible_total,
                "window": window,
                "delta": qs.point if qs else None,
                "delta_ci": qs.ci if qs else None,
                "delta_cs": qs.cs if qs else None,
                "relative": qs.relative if qs else None,
                "over_refusal": w.over_refusal.point if w else None,
                "over_refusal_ci": w.over_refusal.ci if w else None,
                "safety_benefit": w.safety_benefit.point if w else None,
                "lat_p50_ratio": w.latency.p50_ratio if w else None,
                "lat_p95_ratio": w.latency.p95_ratio if w else None,
                "lat": lat,
                "noise_flip": {a: n.flip_ratio for a, n in w.noise.items()} if w else {},
                "effective": completed / mirrors if mirrors else None,
            }
        )
    return rows


def render_view(app: App, config: Config, demo: DemoConfig, elapsed_s: float) -> str:
    rows = _rows(app, config, demo)
    snap = app.ledger.snapshot()
    received = sum(snap.received.values())
    ready = "warm" if app.engine.ready else "warming up (pairs shed until ready)"
    lines = [
        f"taxmeter demo — {elapsed_s:5.0f}s — mirrors received {received} — judges: "
        f"{ready} on {app.judge_provider()} — metrics :{app.ports.metrics}/metrics",
        f"quality judge {config.tax.quality_heads[0]}, window {config.tax.windows[-1]}; "
        "Δ = mean(q_unguarded − q_guarded) over eligible pairs, [95% CI] {anytime-valid CS}",
        "",
        f"{'route':<14}{'mirrors':>8}{'sampled':>8}{'pairs':>7}{'elig':>6}  "
        f"{'Δ quality':>9} {'95% CI':<18} {'CS':<18}{'rel':>7}  "
        f"{'over-refusal':>12} {'(set)':>6}  {'safety+':>7}  "
        f"{'p50 ms g/u':>11} {'p95 ms g/u':>11} {'p50×':>5}  {'noise flip g/u':>14} {'eff.':>6}",
    ]
    for r in rows:
        lat = r["lat"]
        flip = r["noise_flip"]
        lines.append(
            f"{r['route']:<14}{r['mirrors']:>8}{r['sampled']:>8}{r['pairs']:>7}{r['eligible']:>6}  "
            f"{_fmt(r['delta'], '+.3f'):>9} {_iv(r['delta_ci']):<18} {_iv(r['delta_cs']):<18}"
            f"{_pct(r['relative']):>7}  "
            f"{_pct(r['over_refusal']):>12} {_pct(r['set_refusal']):>6}  "
            f"{_pct(r['safety_benefit']):>7}  "
            f"{_ms(lat[('guarded', 0.5)]) + '/' + _ms(lat[('unguarded', 0.5)]):>11} "
            f"{_ms(lat[('guarded', 0.95)]) + '/' + _ms(lat[('unguarded', 0.95)]):>11} "
            f"{_fmt(r['lat_p50_ratio'], '.2f'):>5}  "
            f"{_pct(flip.get('guarded')) + '/' + _pct(flip.get('unguarded')):>14} "
            f"{_pct(r['effective']):>6}"
        )
    lines += [
        "",
        "over-refusal: share of eligible pairs the guarded arm refused and the unguarded did "
        "not, as the refusal judge sees it; (set) is the simulated refusal share of benign "
        "prompts. They differ by judge error and by refusals of prompts the unguarded arm "
        "also declined.",
    ]
    return "\n".join(lines)


def summary_lines(app: App, config: Config, demo: DemoConfig) -> list[str]:
    out = []
    for r in _rows(app, config, demo):
        out.append(
            f"route={r['route']} mirrors={r['mirrors']} sampled={r['sampled']} "
            f"pairs={r['pairs']} eligible={r['eligible']} "
            f"delta={_fmt(r['delta'], '+.4f')} ci={_iv(r['delta_ci'])} cs={_iv(r['delta_cs'])} "
            f"over_refusal={_pct(r['over_refusal'])} ci={_iv(r['over_refusal_ci'], pct=True)} "
            f"set={_pct(r['set_refusal'])} safety_benefit={_pct(r['safety_benefit'])} "
            f"latency_p50_ratio={_fmt(r['lat_p50_ratio'], '.2f')} "
            f"effective_sample={_pct(r['effective'])}"
        )
    return out
