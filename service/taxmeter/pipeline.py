"""The app's ``PairSink``: judge both answers of a finished shadow job, then aggregate.

Shadow job → (this sink) → judge engine → ``ScoredPair`` → tax aggregator.
Incomplete pairs never get here (the dispatcher counts them). While the judges warm up, or
their backend is down, jobs are shed with a reason (``ShedError``), never queued without bound:

- ``judges_not_ready``: the engine has not warmed up (yet, or ever: a load error); the scorer is
  not called;
- ``judges_<reason>``: ``score`` raised ``JudgeNotReadyError(reason)``, e.g.
  ``judges_backend_unavailable`` or ``judges_breaker_open`` (a remote pool down mid-run);
- ``judges_inference_error``: a judge batch failed (e.g. the pool died under the batch); the
  pair is complete but unjudged, so it is shed, not counted as a failed job;
- ``judge_queue_full``: a judge's batch queue is full (raised by the batcher).
"""

from __future__ import annotations

import asyncio

from taxmeter.errors import JudgeInferenceError, JudgeNotReadyError, ShedError
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
        tasks = [
            asyncio.ensure_future(self._scorer.score(JudgeInput(pair.prompt, a.text))) for a in arms
        ]
        try:
            try:
                scores: list[JudgeScores] = list(await asyncio.gather(*tasks))
            except BaseException:
                # One answer shed or failed: the others must not keep judge capacity (or the
                # prompt and answers in memory) for a pair that will not be aggregated.
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        except JudgeNotReadyError as exc:
            raise ShedError(f"judges_{exc.reason}") from exc
        except JudgeInferenceError as exc:
            raise ShedError("judges_inference_error") from exc
        self._observer.observe(
            ScoredPair(
                pair=pair,
                guarded=scores[0],
                unguarded=scores[1],
                repeat=scores[2] if len(scores) > 2 else None,
            )
        )
