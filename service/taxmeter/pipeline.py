"""The app's ``PairSink``: judge both answers of a finished shadow job, then aggregate.

Shadow job → (this sink) → judge engine → ``ScoredPair`` → tax aggregator.
Incomplete pairs never get here (the dispatcher counts them). While the judges warm up, or
their backend is down, jobs are shed with a reason (``ShedError``), never queued without bound.
"""

from __future__ import annotations

import asyncio

from taxmeter.errors import JudgeNotReadyError, ShedError
from taxmeter.types import (
    ArmResult,
    JudgeInput,
    JudgeScores,
    PairObserver,
    ScoredPair,
    Scorer,
    ShadowPair,
)


class JudgingSink:
    """Implements ``taxmeter.types.PairSink``."""

    def __init__(self, scorer: Scorer, observer: PairObserver) -> None:
        self._scorer = scorer
        self._observer = observer

    async def accept(self, pair: ShadowPair) -> None:
        if not self._scorer.ready:
            raise ShedError("judges_not_ready", "judges are warming up or their backend is down")
        arms: list[ArmResult] = [pair.guarded, pair.unguarded]
        if pair.repeat is not None and pair.repeat.answered:
            arms.append(pair.repeat)
        try:
            scores: list[JudgeScores] = list(
                await asyncio.gather(
                    *(self._scorer.score(JudgeInput(pair.prompt, a.text)) for a in arms)
                )
            )
        except JudgeNotReadyError as exc:
            raise ShedError(f"judges_{exc.reason}") from exc
        self._observer.observe(
            ScoredPair(
                pair=pair,
                guarded=scores[0],
                unguarded=scores[1],
                repeat=scores[2] if len(scores) > 2 else None,
            )
        )
