"""Small parts of the shadow dispatcher's job: the per-arm load that decides whether a pair's
latency is comparable, token counts that never mix sources within a pair, and the result of
an arm whose production answer is reused."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace

from taxmeter.shadow.tokens import TokenCounter
from taxmeter.types import Arm, ArmOutcome, ArmResult, MirrorRequest

_INLINE_COUNT_CHARS = 8192
"""Answers longer than this are counted in a worker thread (the event loop keeps serving)."""


@dataclass(slots=True, eq=False)
class CallLoad:
    """One call in flight: the most calls its arm had in flight while it ran (itself included)."""

    peak: int


@dataclass(slots=True, eq=False)
class ArmLoad:
    """taxmeter's own calls in flight to one arm."""

    slots: asyncio.Semaphore
    active: set[CallLoad] = field(default_factory=set)

    def begin(self) -> CallLoad:
        n = len(self.active) + 1
        for call in self.active:
            call.peak = max(call.peak, n)
        call = CallLoad(n)
        self.active.add(call)
        return call


class AnswerTokens:
    """Output-token counts for answers the server gave none for, from one tokenizer (or none:
    then nothing is counted)."""

    def __init__(self, tokens: TokenCounter | None) -> None:
        self._tokens = tokens

    async def same_source(self, by_arm: dict[Arm, ArmResult]) -> None:
        """Give both answers of a pair token counts from one source: when one arm's count is
        the server's and the other's the tokenizer's, count both with the tokenizer."""
        if self._tokens is None:
            return
        sources = {r.tokens_source for r in by_arm.values()}
        if sources != {"server", "tokenizer"}:
            return
        for arm, r in by_arm.items():
            if r.tokens_source == "server":
                by_arm[arm] = replace(
                    r, completion_tokens=await self._count(r.text), tokens_source="tokenizer"
                )

    async def counted(self, result: ArmResult) -> ArmResult:
        """An answer without the server's token count, counted with the tokenizer (long texts
        in a thread: the event loop keeps serving)."""
        if (
            self._tokens is None
            or not result.answered
            or result.completion_tokens is not None
            or not result.text
        ):
            return result
        return replace(
            result, completion_tokens=await self._count(result.text), tokens_source="tokenizer"
        )

    async def _count(self, text: str) -> int:
        assert self._tokens is not None
        if len(text) > _INLINE_COUNT_CHARS:
            return await asyncio.to_thread(self._tokens.count, text)
        return self._tokens.count(text)


def production_result(request: MirrorRequest, arm: Arm) -> ArmResult:
    p = request.production
    assert p is not None
    blocked = p.finish_reason == "content_filter"
    return ArmResult(
        arm=arm,
        outcome=ArmOutcome.GUARD_BLOCK if blocked else ArmOutcome.OK,
        text=p.text,
        finish_reason=p.finish_reason,
        latency_s=p.latency_s,
        ttft_s=p.ttft_s,
        prompt_tokens=p.prompt_tokens,
        completion_tokens=p.completion_tokens,
        reused_production=True,
        tokens_source="server" if p.completion_tokens is not None else None,
    )
