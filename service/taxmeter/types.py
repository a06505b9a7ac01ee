"""Domain types and the role protocols that components depend on.

Everything that crosses a component boundary is defined here, so that each package (ingress,
sampling, shadow, judges, tax, telemetry) depends on this module and not on each other.
Fakes in tests implement the protocols; nothing patches our own code.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

JSONObject = dict[str, Any]
"""A parsed JSON object (a chat-completions request body, for instance)."""

RouteLabel = str
"""A route as exported in metric labels: an allowlisted route name, ``other`` or ``unknown``."""

HeadKey = str
"""A judge head, qualified by its judge: ``"<judge>.<head>"``, e.g. ``"default.refusal"``."""


class Arm(enum.StrEnum):
    """The two sides of the comparison."""

    GUARDED = "guarded"
    UNGUARDED = "unguarded"


class Transport(enum.StrEnum):
    GRPC = "grpc"
    HTTP = "http"


class MirrorOutcome(enum.StrEnum):
    """What happened to one mirrored request at ingress (``taxmeter_mirror_requests_total``)."""

    SAMPLED = "sampled"
    NOT_SAMPLED = "not_sampled"
    DROPPED_QUEUE_FULL = "dropped_queue_full"
    DROPPED_BUDGET = "dropped_budget"
    REJECTED = "rejected"


class JobOutcome(enum.StrEnum):
    """How a sampled shadow job ended (``taxmeter_shadow_jobs_total``)."""

    COMPLETED = "completed"
    FAILED = "failed"
    SHED = "shed"


class ArmOutcome(enum.StrEnum):
    """How one arm's call ended (``taxmeter_shadow_requests_total``).

    A guard block (HTTP 400 with a content-filter error, or ``finish_reason: content_filter``)
    is an answer, a refusal, not an error.
    """

    OK = "ok"
    GUARD_BLOCK = "guard_block"
    ERROR = "error"
    TIMEOUT = "timeout"

    @property
    def answered(self) -> bool:
        return self in (ArmOutcome.OK, ArmOutcome.GUARD_BLOCK)


@dataclass(frozen=True, slots=True)
class ProductionAnswer:
    """The answer production already received, passed along with the mirror."""

    text: str
    arm: Arm
    latency_s: float | None = None
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class MirrorRequest:
    """A validated mirrored request, as the sampler and the dispatcher see it.

    ``body`` is the parsed production chat-completions body; ``raw_body`` the bytes as received
    (forwarded unchanged to an arm that has no overrides).
    """

    request_id: str
    route: RouteLabel
    category: RouteLabel | None
    body: JSONObject
    raw_body: bytes
    production: ProductionAnswer | None = None
    force_sample: bool = False
    transport: Transport = Transport.GRPC
    received_monotonic: float = field(default_factory=time.monotonic)

    @property
    def estimated_tokens(self) -> int:
        """A cheap estimate of prompt plus answer tokens (≈ 4 bytes a token), for budgets."""
        max_out = self.body.get("max_completion_tokens") or self.body.get("max_tokens") or 256
        out = max_out if isinstance(max_out, int) and max_out > 0 else 256
        return len(self.raw_body) // 4 + out


@dataclass(frozen=True, slots=True)
class ArmResult:
    """One arm's answer (or failure) to one shadowed request."""

    arm: Arm
    outcome: ArmOutcome
    text: str = ""
    finish_reason: str | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    status_code: int | None = None
    # Bounded reason label for failures: "http_5xx", "http_4xx", "timeout", "connect",
    # "malformed_json", "truncated_stream", "empty_role_only"... (shadow.answer.ERROR_REASONS);
    # None when answered.
    error_reason: str | None = None
    # True when this is the production answer reused instead of a second guarded call.
    reused_production: bool = False
    model: str | None = None
    # Where completion_tokens came from: "server" (the endpoint's usage report), "tokenizer"
    # (counted by taxmeter from the answer text), None (no count).
    tokens_source: str | None = None

    @property
    def answered(self) -> bool:
        return self.outcome.answered


@dataclass(frozen=True, slots=True)
class ShadowPair:
    """A finished shadow job handed to the ``PairSink``: both arms' results for one prompt.

    ``prompt`` is the conversation flattened to text for the judges (kept only as long as they
    need it). ``repeat`` is a second answer of the same arm (``repeat_arm``), present for the
    small share of jobs sampled for the noise floor.
    """

    request_id: str
    route: RouteLabel
    category: RouteLabel | None
    prompt: str
    guarded: ArmResult
    unguarded: ArmResult
    repeat: ArmResult | None = None
    trace_id: str | None = None
    # Why the two latencies must not be compared although both arms were called: "saturated"
    # (an arm had more of taxmeter's own calls in flight than its comparable bound).
    latency_excluded: str | None = None

    @property
    def complete(self) -> bool:
        return self.guarded.answered and self.unguarded.answered

    @property
    def latency_comparable(self) -> bool:
        """Both arms timed by us, at the same time (no reused production answer), and neither
        arm saturated by taxmeter's own calls."""
        if self.latency_excluded is not None:
            return False
        return not (self.guarded.reused_production or self.unguarded.reused_production)


@dataclass(frozen=True, slots=True)
class JudgeInput:
    """What a judge sees: the prompt and one answer."""

    prompt: str
    response: str


@dataclass(frozen=True, slots=True)
class HeadScore:
    """One head's calibrated probability in [0, 1] and its thresholded decision."""

    value: float
    decision: bool


JudgeScores = Mapping[HeadKey, HeadScore]
"""Every head of every judge, for one ``JudgeInput``, keyed ``"<judge>.<head>"``."""


@dataclass(frozen=True, slots=True)
class ReferenceLabel:
    """An auditor's (or a person's) label of one answer: the reference the judge is checked
    against. ``quality`` in [0, 1] stands for every configured quality head."""

    refusal: bool
    unsafe: bool
    quality: float


@dataclass(frozen=True, slots=True)
class PairReference:
    """Reference labels for both answers of an audited pair."""

    guarded: ReferenceLabel
    unguarded: ReferenceLabel


@dataclass(frozen=True, slots=True)
class ScoredPair:
    """A complete pair with judge scores for each answer, ready for the tax aggregator.

    ``reference`` is set only for a pair of the audit sample whose auditor answered.
    """

    pair: ShadowPair
    guarded: JudgeScores
    unguarded: JudgeScores
    repeat: JudgeScores | None = None
    reference: PairReference | None = None


class Clock(Protocol):
    """Monotonic time, injectable for tests."""

    def monotonic(self) -> float: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()


@runtime_checkable
class PairSink(Protocol):
    """Receives every finished shadow job. Raises ``ShedError`` to shed (counted by reason)."""

    async def accept(self, pair: ShadowPair) -> None: ...


class Scorer(Protocol):
    """The judge engine as the rest of the app sees it."""

    @property
    def ready(self) -> bool: ...

    async def score(self, item: JudgeInput) -> JudgeScores: ...


class PairObserver(Protocol):
    """The tax aggregator as the app sees it."""

    def observe(self, scored: ScoredPair) -> None: ...


@dataclass(frozen=True, slots=True)
class Admission:
    """The sampler's decision for one mirrored request, as acknowledged to the sender."""

    request_id: str
    outcome: MirrorOutcome
    reason: str = ""

    @property
    def sampled(self) -> bool:
        return self.outcome is MirrorOutcome.SAMPLED


class MirrorIntake(Protocol):
    """What the ingress edge hands requests to. Exactly one call per received request.

    Both methods count the request as received on ``transport`` *and* its outcome in one
    atomic step (so the accounting identities hold at every scrape), never block, and never
    raise for a valid request.
    """

    def submit(self, request: MirrorRequest) -> Admission: ...

    def reject(self, transport: Transport, route: RouteLabel, error: Exception) -> None: ...
