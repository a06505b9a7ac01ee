"""``JudgingSink``: the app's pair sink, with a fake ``Scorer`` and a recording observer.

While the judges are not ready, pairs are shed with a reason (never queued, never observed);
the dispatcher then counts them in the ledger as ``shed`` with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from shadow_fixtures import FakeEndpoint, chat_body, make_rig, mirror, shadow_config
from taxmeter.errors import JudgeNotReadyError, ShedError
from taxmeter.pipeline import JudgingSink
from taxmeter.types import (
    Arm,
    ArmOutcome,
    ArmResult,
    HeadScore,
    JobOutcome,
    JudgeInput,
    JudgeScores,
    ScoredPair,
    ShadowPair,
)


@dataclass
class FakeScorer:
    """Scores ``quality`` as the answer's length / 100; ``error`` is raised by ``score``."""

    ready: bool = True
    error: Exception | None = None
    seen: list[JudgeInput] = field(default_factory=list)

    async def score(self, item: JudgeInput) -> JudgeScores:
        self.seen.append(item)
        if self.error is not None:
            raise self.error
        q = min(1.0, len(item.response) / 100)
        return {"j.quality": HeadScore(q, q >= 0.5)}


@dataclass
class RecordingObserver:
    scored: list[ScoredPair] = field(default_factory=list)

    def observe(self, scored: ScoredPair) -> None:
        self.scored.append(scored)


def _arm(arm: Arm, text: str, outcome: ArmOutcome = ArmOutcome.OK) -> ArmResult:
    return ArmResult(arm=arm, outcome=outcome, text=text, finish_reason="stop", latency_s=0.1)


def _pair(repeat: ArmResult | None = None) -> ShadowPair:
    return ShadowPair(
        request_id="r1",
        route="chat",
        category=None,
        prompt="What is a mutex?",
        guarded=_arm(Arm.GUARDED, "g" * 20),
        unguarded=_arm(Arm.UNGUARDED, "u" * 80),
        repeat=repeat,
    )


async def test_pair_is_shed_with_reason_while_judges_are_not_ready() -> None:
    scorer, observer = FakeScorer(ready=False), RecordingObserver()
    with pytest.raises(ShedError) as info:
        await JudgingSink(scorer, observer).accept(_pair())
    assert info.value.reason == "judges_not_ready"
    assert scorer.seen == [] and observer.scored == []


@pytest.mark.parametrize(
    ("reason", "shed_reason"),
    [
        ("warming_up", "judges_warming_up"),
        ("load_failed", "judges_load_failed"),
        ("closed", "judges_closed"),
    ],
)
async def test_judge_not_ready_during_scoring_becomes_a_labelled_shed(
    reason: str, shed_reason: str
) -> None:
    scorer = FakeScorer(error=JudgeNotReadyError(reason))
    observer = RecordingObserver()
    with pytest.raises(ShedError) as info:
        await JudgingSink(scorer, observer).accept(_pair())
    assert info.value.reason == shed_reason
    assert observer.scored == []


async def test_ready_judges_score_both_answers_in_arm_order() -> None:
    scorer, observer = FakeScorer(), RecordingObserver()
    await JudgingSink(scorer, observer).accept(_pair())
    (scored,) = observer.scored
    assert scored.guarded["j.quality"].value == pytest.approx(0.2)
    assert scored.unguarded["j.quality"].value == pytest.approx(0.8)
    assert scored.repeat is None
    assert [i.prompt for i in scorer.seen] == ["What is a mutex?"] * 2


async def test_answered_noise_floor_repeat_is_scored_too() -> None:
    scorer, observer = FakeScorer(), RecordingObserver()
    await JudgingSink(scorer, observer).accept(_pair(repeat=_arm(Arm.GUARDED, "r" * 50)))
    (scored,) = observer.scored
    assert scored.repeat is not None
    assert scored.repeat["j.quality"].value == pytest.approx(0.5)
    assert len(scorer.seen) == 3


async def test_unanswered_repeat_is_not_scored() -> None:
    scorer, observer = FakeScorer(), RecordingObserver()
    failed = ArmResult(arm=Arm.GUARDED, outcome=ArmOutcome.ERROR, error_reason="http_5xx")
    await JudgingSink(scorer, observer).accept(_pair(repeat=failed))
    assert observer.scored[0].repeat is None
    assert len(scorer.seen) == 2


async def test_dispatcher_counts_jobs_shed_by_unready_judges_with_reason_in_the_ledger() -> None:
    observer = RecordingObserver()
    sink = JudgingSink(FakeScorer(ready=False), observer)
    rig = make_rig(
        shadow_config(concurrency=2, queue_size=16),
        FakeEndpoint(Arm.GUARDED),
        FakeEndpoint(Arm.UNGUARDED),
        sink=sink,  # type: ignore[arg-type]
    )
    await rig.dispatcher.start()
    try:
        for i in range(5):
            assert rig.submit(mirror(chat_body(), request_id=f"r{i}"))
        await rig.wait_idle()
    finally:
        await rig.dispatcher.drain(1.0)
    snap = rig.ledger.snapshot()
    assert snap.shed == {("chat", "judges_not_ready"): 5}
    assert rig.jobs("chat", JobOutcome.SHED) == 5
    assert rig.jobs("chat", JobOutcome.COMPLETED) == 0
    assert rig.identity_holds("chat")
    assert (
        rig.value("taxmeter_shadow_jobs_shed_total", route="chat", reason="judges_not_ready") == 5
    )
    assert observer.scored == []


async def test_when_one_answer_is_shed_the_other_answers_scoring_is_cancelled() -> None:
    import asyncio

    started: list[str] = []
    cancelled: list[str] = []

    class SlowThenShed:
        ready = True

        async def score(self, item: JudgeInput) -> JudgeScores:
            started.append(item.response)
            if item.response.startswith("g"):
                await asyncio.sleep(0)
                raise ShedError("judge_queue_full")
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.append(item.response)
                raise
            return {}

    sink = JudgingSink(SlowThenShed(), RecordingObserver())
    with pytest.raises(ShedError):
        await asyncio.wait_for(sink.accept(_pair()), timeout=5)
    assert len(started) == 2
    assert cancelled == ["u" * 80]
