"""The per-pair update is built by pure functions; the tax modules import no cycle."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from taxmeter.tax import TaxConfig
from taxmeter.tax.layout import Layout
from taxmeter.tax.update import Unscorable, build_update, centred_terms, judge_pair
from taxmeter.types import Arm, ArmOutcome, ArmResult, HeadScore, ScoredPair, ShadowPair

TAX = Path(__file__).resolve().parents[2] / "service" / "taxmeter" / "tax"


def _scores(q: float, refusal: bool = False, unsafe: bool = False) -> dict[str, HeadScore]:
    return {
        "default.quality": HeadScore(q, q >= 0.5),
        "default.refusal": HeadScore(float(refusal), refusal),
        "default.unsafe": HeadScore(float(unsafe), unsafe),
    }


def _pair(*, g_block: bool = False, latency: tuple[float, float] | None = None) -> ShadowPair:
    g = ArmResult(
        Arm.GUARDED,
        ArmOutcome.GUARD_BLOCK if g_block else ArmOutcome.OK,
        latency_s=latency[0] if latency else None,
    )
    u = ArmResult(Arm.UNGUARDED, ArmOutcome.OK, latency_s=latency[1] if latency else None)
    return ShadowPair("id", "chat", None, "p", g, u)


def test_an_over_refusal_updates_named_fields_and_centres_on_the_running_mean() -> None:
    cfg = TaxConfig()
    layout = Layout(cfg.quality_heads)
    pair = _pair(latency=(2.0, 1.0))
    judged = judge_pair(cfg, ScoredPair(pair, _scores(0.1, refusal=True), _scores(0.9)))
    upd = build_update(layout, judged, pair, cfg.tie_epsilon)
    vec = dict(upd.entries)
    f, hf = layout.f, layout.heads["default.quality"]
    assert vec[f.complete] == vec[f.eligible] == vec[f.over_refusals] == 1.0
    assert vec[layout.arm["guarded"].refusals] == 1.0
    assert layout.arm["unguarded"].refusals not in vec
    assert vec[hf.d] == pytest.approx(0.8) and vec[hf.loss] == 1.0
    assert vec[layout.arm["guarded"].lat_sum] == 2.0 and vec[f.lat_n] == 1.0
    assert len(vec) == len(upd.entries)  # distinct indices: one vectorised add is exact
    cum = np.zeros(layout.size)
    cum[f.eligible], cum[hf.d], cum[f.over_refusals] = 4.0, 0.4, 1.0  # means 0.1 and 0.25
    terms = dict(centred_terms(layout, cum, upd))
    assert terms[hf.v] == pytest.approx((0.8 - 0.1) ** 2)
    assert terms[f.v_or] == pytest.approx((1.0 - 0.25) ** 2)


def test_a_guard_block_is_a_refusal_and_an_unsafe_unguarded_answer_is_not_eligible() -> None:
    cfg = TaxConfig()
    layout = Layout(cfg.quality_heads)
    pair = _pair(g_block=True)
    judged = judge_pair(cfg, ScoredPair(pair, _scores(0.0, unsafe=True), _scores(0.9, unsafe=True)))
    assert judged.guarded.refusal and not judged.guarded.unsafe and not judged.eligible
    upd = build_update(layout, judged, pair, cfg.tie_epsilon)
    vec = dict(upd.entries)
    assert vec[layout.f.safety_benefits] == 1.0 and layout.f.eligible not in vec
    assert centred_terms(layout, np.zeros(layout.size), upd) == []


def test_a_missing_head_is_unscorable() -> None:
    cfg = TaxConfig()
    bad = {"default.quality": HeadScore(0.5, True)}
    with pytest.raises(Unscorable, match="missing_head"):
        judge_pair(cfg, ScoredPair(_pair(), bad, _scores(0.5)))


def _imports(path: Path) -> set[str]:
    """Modules a file imports (``from X import`` and ``import X``), read from its lines: an
    ``ast.parse`` here tripped CPython 3.11's "AST constructor recursion depth mismatch" late in
    the suite (interpreter state left by earlier tests), so this stays text-based."""
    out = set()
    for line in path.read_text().splitlines():
        m = re.match(r"\s*from\s+([\w.]+)\s+import\b", line) or re.match(
            r"\s*import\s+([\w.]+)", line
        )
        if m:
            out.add(m.group(1))
    return out


def test_the_tax_package_has_no_import_cycle() -> None:
    graph = {
        f"taxmeter.tax.{p.stem}": {m for m in _imports(p) if m.startswith("taxmeter.tax.")}
        for p in TAX.glob("*.py")
        if p.stem != "__init__"
    }
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, set()):
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*stack, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    assert "taxmeter.tax.collector" not in graph["taxmeter.tax.aggregator"]
