"""The audit stage with a fake auditor: sample, budgets, guard blocks, failures (issue 10)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from taxmeter.audit import (
    AuditConfig,
    AuditFailed,
    AuditMetrics,
    AuditStage,
    Labelled,
    in_audit_sample,
    parse_reply,
)
from taxmeter.types import (
    Arm,
    ArmOutcome,
    ArmResult,
    ReferenceLabel,
    ScoredPair,
    ShadowPair,
)

AUDITOR = {"endpoint": {"base_url": "http://127.0.0.1:9/v1"}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class FakeAuditor:
    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.answers: list[str] = []

    async def label(self, prompt: str, answer: str) -> Labelled:
        self.answers.append(answer)
        await asyncio.sleep(0)
        if self.fail:
            raise AuditFailed(self.fail)
        return Labelled(ReferenceLabel("cannot" in answer, False, 0.5), 100)

    async def aclose(self) -> None:
        pass


class Recorder:
    def __init__(self) -> None:
        self.pairs: list[ScoredPair] = []

    def observe(self, scored: ScoredPair) -> None:
        self.pairs.append(scored)


def _pair(i: int, *, blocked: bool = False) -> ScoredPair:
    g = ArmResult(
        Arm.GUARDED, ArmOutcome.GUARD_BLOCK if blocked else ArmOutcome.OK, text="I cannot help."
    )
    u = ArmResult(Arm.UNGUARDED, ArmOutcome.OK, text="Here you go.")
    return ScoredPair(ShadowPair(f"req-{i}", "chat", None, "p", g, u), {}, {})


def _stage(
    fail: str | None = None, **cfg: object
) -> tuple[AuditStage, FakeAuditor, Recorder, CollectorRegistry]:
    reg = CollectorRegistry()
    auditor, rec = FakeAuditor(fail), Recorder()
    config = AuditConfig.model_validate({"enabled": True, "auditor": AUDITOR, **cfg})
    return AuditStage(config, auditor, rec, AuditMetrics(reg), clock=Clock()), auditor, rec, reg


def _count(reg: CollectorRegistry, outcome: str) -> float:
    return (
        reg.get_sample_value("taxmeter_audit_selected_total", {"route": "chat", "outcome": outcome})
        or 0.0
    )


def test_the_sample_is_a_reproducible_hash_near_the_rate() -> None:
    picked = [in_audit_sample(f"req-{i}", "s", 0.1) for i in range(20_000)]
    assert 0.09 < sum(picked) / len(picked) < 0.11
    assert picked == [in_audit_sample(f"req-{i}", "s", 0.1) for i in range(20_000)]
    assert picked != [in_audit_sample(f"req-{i}", "other", 0.1) for i in range(20_000)]


def test_every_pair_is_aggregated_and_audited_ones_carry_references() -> None:
    async def main() -> tuple[AuditStage, FakeAuditor, Recorder, CollectorRegistry]:
        stage, auditor, rec, reg = _stage(rate=0.5, max_per_second=1000, burst=1000)
        for i in range(200):
            stage.observe(_pair(i, blocked=i % 2 == 0))
        await stage.aclose(5.0)
        return stage, auditor, rec, reg

    _, auditor, rec, reg = asyncio.run(main())
    assert len(rec.pairs) == 200
    audited = [p for p in rec.pairs if p.reference is not None]
    assert len(audited) == _count(reg, "labelled") > 60
    for p in audited:
        assert p.reference is not None
        blocked = p.pair.guarded.outcome is ArmOutcome.GUARD_BLOCK
        assert p.reference.guarded.refusal and not p.reference.unguarded.refusal
        assert blocked or p.reference.guarded.quality == 0.5
    # a guard-blocked answer is never sent to the auditor
    n_blocked = sum(p.pair.guarded.outcome is ArmOutcome.GUARD_BLOCK for p in audited)
    assert len(auditor.answers) == 2 * len(audited) - n_blocked


def test_over_the_budget_pairs_are_aggregated_judge_only_and_counted() -> None:
    async def main() -> tuple[Recorder, CollectorRegistry]:
        stage, _, rec, reg = _stage(rate=1.0, max_per_second=0.001, burst=3)
        for i in range(10):
            stage.observe(_pair(i))
        await stage.aclose(5.0)
        return rec, reg

    rec, reg = asyncio.run(main())
    assert len(rec.pairs) == 10
    assert _count(reg, "labelled") == 3 and _count(reg, "skipped_budget") == 7


@pytest.mark.parametrize("reason", ["timeout", "unparsable", "error"])
def test_a_failing_auditor_never_loses_a_pair(reason: str) -> None:
    async def main() -> tuple[Recorder, CollectorRegistry]:
        stage, _, rec, reg = _stage(reason, rate=1.0, max_per_second=1000, burst=1000)
        for i in range(20):
            stage.observe(_pair(i))
        await stage.aclose(5.0)
        return rec, reg

    rec, reg = asyncio.run(main())
    assert len(rec.pairs) == 20 and all(p.reference is None for p in rec.pairs)
    assert _count(reg, "auditor_failed") == 20


@pytest.mark.parametrize(
    ("reply", "ok"),
    [
        ('{"refusal": true, "unsafe": false, "quality": 0.25}', True),
        ('```json\n{"refusal": false, "unsafe": false, "quality": 1}\n```', True),
        ('{"refusal": "yes", "unsafe": false, "quality": 0.5}', False),
        ('{"refusal": true, "unsafe": false}', False),
        ('{"refusal": true, "unsafe": false, "quality": 1.5}', False),
        ('{"refusal": true, "unsafe": false, "quality": 0.5, "note": "x"}', False),
        ("The answer is a refusal.", False),
    ],
)
def test_replies_are_parsed_strictly(reply: str, ok: bool) -> None:
    assert (parse_reply(reply) is not None) is ok


def test_enabled_without_an_auditor_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="auditor"):
        AuditConfig.model_validate({"enabled": True})
