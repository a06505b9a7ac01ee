"""Judge-error-corrected figures in the aggregator: audited pairs in, corrected series out."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry
from taxmeter.tax import TaxAggregator, TaxCollector, TaxConfig
from taxmeter.tax.layout import Layout
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


class FakeClock:
    def monotonic(self) -> float:
        return 1000.0


def _scores(q: float, refusal: bool) -> dict[str, HeadScore]:
    return {
        "default.quality": HeadScore(q, q >= 0.5),
        "default.refusal": HeadScore(float(refusal), refusal),
        "default.unsafe": HeadScore(0.0, False),
    }


def make(qg: float, qu: float, *, g_refusal: bool) -> ScoredPair:
    pair = ShadowPair(
        "r1",
        "chat",
        None,
        "prompt",
        ArmResult(Arm.GUARDED, ArmOutcome.OK),
        ArmResult(Arm.UNGUARDED, ArmOutcome.OK),
    )
    return ScoredPair(pair, _scores(qg, g_refusal), _scores(qu, False))


def _agg(min_pairs: int | None) -> tuple[TaxAggregator, CollectorRegistry]:
    reg = CollectorRegistry()
    agg = TaxAggregator(
        TaxConfig(windows=["5m", "1h"]), clock=FakeClock(), audit_min_pairs=min_pairs
    )
    reg.register(TaxCollector(agg))
    return agg, reg


def _ref(g_refusal: bool) -> PairReference:
    return PairReference(
        ReferenceLabel(g_refusal, False, 0.2 if g_refusal else 0.9),
        ReferenceLabel(False, False, 0.9),
    )


def _feed(agg: TaxAggregator, n: int = 1000, audit_every: int = 5) -> None:
    # Truth: the guarded arm refuses every 4th prompt (25 %); the judge misses every other
    # one of those (FNR 0.5), so the judge-only over-refusal is 12.5 %.
    for i in range(n):
        refused = i % 4 == 0
        caught = refused and (i // 4) % 2 == 0
        scored = make(0.2 if refused else 0.9, 0.9, g_refusal=caught)
        if i % audit_every == 0:
            scored = dataclasses.replace(scored, reference=_ref(refused))
        agg.observe(scored)


def val(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def test_auditing_off_keeps_the_layout_and_the_series_as_they_were() -> None:
    agg, reg = _agg(None)
    assert agg.layout.size == Layout(TaxConfig().quality_heads).size
    _feed(agg, 40)
    names = {fam.name for fam in reg.collect()}
    assert not any("audit" in n or "corrected" in n for n in names)


def test_corrected_over_refusal_recovers_the_truth_the_judge_misses() -> None:
    agg, reg = _agg(30)
    _feed(agg)
    judge = val(reg, "taxmeter_over_refusal_ratio", route="chat", window="1h", stat="point")
    assert judge is not None and abs(judge - 0.125) < 1e-9
    hi = val(reg, "taxmeter_over_refusal_ratio", route="chat", window="1h", stat="ci_high")
    assert hi is not None and hi < 0.25  # the judge-only interval excludes the truth
    lbl = {"route": "chat", "window": "1h"}
    low = val(reg, "taxmeter_corrected_over_refusal_ratio", stat="ci_low", **lbl)
    high = val(reg, "taxmeter_corrected_over_refusal_ratio", stat="ci_high", **lbl)
    point = val(reg, "taxmeter_corrected_over_refusal_ratio", stat="point", **lbl)
    assert low is not None and high is not None and point is not None
    assert low < 0.25 < high
    assert abs(point - 0.25) < 0.05
    assert val(reg, "taxmeter_audit_corrected_available", **lbl) == 1.0
    assert val(reg, "taxmeter_audit_pairs_total", route="chat") == 200
    # Audited pairs are i % 5 == 0: 50 refused (i % 20 == 0), of which the judge caught those
    # with (i // 4) even, i.e. i % 40 == 0: 25.
    conf = {
        (j, r): val(
            reg,
            "taxmeter_audit_confusion_total",
            route="chat",
            head="refusal",
            arm="guarded",
            judge=j,
            reference=r,
        )
        for j in ("true", "false")
        for r in ("true", "false")
    }
    assert conf == {
        ("true", "true"): 25,
        ("false", "true"): 25,
        ("true", "false"): 0,
        ("false", "false"): 150,
    }
    assert (
        val(reg, "taxmeter_audit_agreements_total", route="chat", head="refusal", arm="guarded")
        == 175
    )
    agree = val(
        reg,
        "taxmeter_audit_agreement_ratio",
        route="chat",
        head="refusal",
        arm="guarded",
        window="1h",
    )
    assert agree == 175 / 200
    assert (
        val(
            reg,
            "taxmeter_audit_over_refusal_cells_total",
            route="chat",
            judge="eligible",
            reference="over_refusal",
        )
        == 25
    )
    cs_low = val(reg, "taxmeter_corrected_over_refusal_ratio", stat="cs_low", **lbl)
    assert cs_low is not None and cs_low <= low


def test_too_few_audited_pairs_fall_back_to_judge_only_visibly() -> None:
    agg, reg = _agg(500)
    _feed(agg)
    lbl = {"route": "chat", "window": "1h"}
    assert val(reg, "taxmeter_audit_corrected_available", **lbl) == 0.0
    assert val(reg, "taxmeter_corrected_over_refusal_ratio", stat="point", **lbl) is None
    assert val(reg, "taxmeter_over_refusal_ratio", stat="point", **lbl) is not None


def test_audit_counters_of_two_pods_sum_to_those_of_one() -> None:
    one, reg_one = _agg(30)
    pods = [_agg(30), _agg(30)]
    for i in range(400):
        refused = i % 4 == 0
        scored = make(0.2 if refused else 0.9, 0.9, g_refusal=refused and i % 8 == 0)
        if i % 3 == 0:
            scored = dataclasses.replace(scored, reference=_ref(refused))
        one.observe(scored)
        pods[i % 2][0].observe(scored)
    names = (
        "taxmeter_audit_pairs_total",
        "taxmeter_audit_confusion_total",
        "taxmeter_audit_agreements_total",
        "taxmeter_audit_over_refusal_cells_total",
    )

    def samples(reg: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in reg.collect()
            for s in fam.samples
            if s.name in names
        }

    whole = samples(reg_one)
    a, b = samples(pods[0][1]), samples(pods[1][1])
    assert whole and set(whole) == set(a) == set(b)
    for key, value in whole.items():
        assert a[key] + b[key] == value, key
