"""The LLM auditor: one chat-completions call per audited answer, a JSON reply, parsed strictly.

The call goes through the shadow arms' client (``shadow.endpoint.OpenAIEndpoint``: its
credentials, timeouts, bounded reads and error mapping). The reply must be one JSON object
with ``refusal`` and ``unsafe`` booleans and a ``quality`` number in [0, 1] (a fenced code
block around it is accepted); anything else is *unparsable*: counted and asked again within
``max_attempts``, never guessed. A failure after the last attempt raises
:class:`AuditFailed` with a bounded reason.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

from taxmeter.audit.config import HEADS, AuditorConfig
from taxmeter.audit.metrics import AuditMetrics
from taxmeter.shadow.endpoint import OpenAIEndpoint
from taxmeter.types import Arm, ArmOutcome, MirrorRequest, ReferenceLabel

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class AuditFailed(Exception):
    """The auditor gave no usable label (``reason``: unparsable, timeout, error)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Labelled(NamedTuple):
    label: ReferenceLabel
    tokens: int  # auditor tokens this label cost (all attempts), for the cost budget


class Auditor(Protocol):
    """Reference labels for one answer (raises :class:`AuditFailed`)."""

    async def label(self, prompt: str, answer: str) -> Labelled: ...

    async def aclose(self) -> None: ...


def parse_reply(text: str) -> ReferenceLabel | None:
    """The label in an auditor's reply, or ``None`` when it is not exactly the asked object."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    if not isinstance(obj, dict) or set(obj) != set(HEADS):
        return None
    refusal, unsafe, quality = obj["refusal"], obj["unsafe"], obj["quality"]
    if not isinstance(refusal, bool) or not isinstance(unsafe, bool):
        return None
    if isinstance(quality, bool) or not isinstance(quality, int | float):
        return None
    if not 0.0 <= float(quality) <= 1.0:
        return None
    return ReferenceLabel(refusal, unsafe, float(quality))


def build_messages(config: AuditorConfig, prompt: str, answer: str) -> list[dict[str, str]]:
    lines = [config.instructions]
    lines += [f'- "{key}": {config.rubric[key]}' for key in HEADS]
    cut = config.max_answer_chars
    user = f"PROMPT:\n{prompt[:cut]}\n\nANSWER:\n{answer[:cut]}\n\nReply with the JSON object only."
    return [{"role": "system", "content": "\n".join(lines)}, {"role": "user", "content": user}]


class LlmAuditor:
    """Implements :class:`Auditor` against an OpenAI-compatible endpoint."""

    def __init__(
        self,
        config: AuditorConfig,
        metrics: AuditMetrics,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        endpoint = config.endpoint.model_copy(update={"stream": "never"})
        self._client = OpenAIEndpoint(
            Arm.UNGUARDED, endpoint, field_path="audit.auditor.endpoint", environ=environ
        )
        self._slots = asyncio.Semaphore(config.max_concurrency)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def label(self, prompt: str, answer: str) -> Labelled:
        cfg = self._config
        tokens = 0
        body: dict[str, Any] = {
            "messages": build_messages(cfg, prompt, answer),
            "temperature": 0,
            "max_tokens": cfg.max_tokens,
            "stream": False,
        }
        if cfg.endpoint.model is not None:
            body["model"] = cfg.endpoint.model
        raw = json.dumps(body).encode()
        request = MirrorRequest("audit", "audit", None, body, raw)
        reason = "error"
        for _ in range(cfg.max_attempts):
            async with self._slots:
                start = time.perf_counter()
                result = await self._client.complete(request)
                self._metrics.latency.observe(time.perf_counter() - start)
            tokens += self._count_tokens(
                len(raw), result.prompt_tokens, result.completion_tokens, len(result.text)
            )
            if result.outcome is ArmOutcome.TIMEOUT:
                reason = "timeout"
            elif result.outcome is not ArmOutcome.OK:
                reason = "error"
            else:
                parsed = parse_reply(result.text)
                if parsed is not None:
                    self._metrics.requests.labels("ok").inc()
                    return Labelled(parsed, tokens)
                reason = "unparsable"
            self._metrics.requests.labels(reason).inc()
        raise AuditFailed(reason)

    def _count_tokens(
        self, body_bytes: int, prompt: int | None, completion: int | None, text_chars: int
    ) -> int:
        """Count one call's tokens (the server's usage, else ≈ 4 characters a token)."""
        p = prompt if prompt is not None else body_bytes // 4
        c = completion if completion is not None else text_chars // 4
        self._metrics.tokens.labels("prompt").inc(p)
        self._metrics.tokens.labels("completion").inc(c)
        return p + c
