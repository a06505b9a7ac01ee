"""Per-arm call metrics of the shadow dispatcher (registry passed in).

Job accounting (``taxmeter_shadow_jobs_total``, ``_open``, ``pairs_incomplete``) lives in the
ledger, where the identities are kept under one lock; this module has the per-call series.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from taxmeter.types import ArmResult, RouteLabel

LATENCY_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
)  # fmt: skip
TOKEN_BUCKETS = (1, 4, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
FINISH_REASONS = frozenset({"stop", "length", "content_filter", "tool_calls"})
"""Exported as is; any other finish_reason is ``other`` (``none`` when absent)."""


def finish_reason_label(reason: str | None) -> str:
    if reason is None:
        return "none"
    return reason if reason in FINISH_REASONS else "other"


class ShadowMetrics:
    """``taxmeter_shadow_*`` per-call series."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "taxmeter_shadow_requests",
            "Calls to an arm by outcome (ok, guard_block, error, timeout). Reused production "
            "answers are not calls and are not counted here.",
            ["arm", "route", "outcome"],
            registry=registry,
        )
        self.errors = Counter(
            "taxmeter_shadow_errors",
            "Failed calls to an arm by bounded reason (http_5xx, timeout, truncated_stream...).",
            ["arm", "route", "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            "taxmeter_shadow_latency_seconds",
            "Whole-answer latency of answered calls (ok or guard_block), as timed by taxmeter.",
            ["arm", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.ttft = Histogram(
            "taxmeter_shadow_ttft_seconds",
            "Time to the first non-empty content token of answered streaming calls.",
            ["arm", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.output_tokens = Histogram(
            "taxmeter_shadow_output_tokens",
            "Completion tokens per answer, by source: server (the endpoint's usage report) or "
            "tokenizer (counted by taxmeter: the endpoint reported no usage).",
            ["arm", "route", "source"],
            buckets=TOKEN_BUCKETS,
            registry=registry,
        )
        self.token_sources = Counter(
            "taxmeter_shadow_token_counts",
            "Answers by where their completion token count came from (server, tokenizer, "
            "none: no usage and no tokenizer, or a guard block without text).",
            ["arm", "route", "source"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "taxmeter_shadow_in_flight",
            "taxmeter's own calls in flight to each arm now (bounded by its max_in_flight).",
            ["arm"],
            registry=registry,
        )
        self.latency_excluded = Counter(
            "taxmeter_shadow_latency_excluded_pairs",
            "Complete pairs left out of latency, TTFT and token comparisons, by reason: "
            "production_reused (one arm not called), saturated (an arm had more of taxmeter's "
            "calls in flight than its comparable_in_flight bound).",
            ["route", "reason"],
            registry=registry,
        )
        self.prompt_tokens = Histogram(
            "taxmeter_shadow_prompt_tokens",
            "Prompt tokens per call, from the endpoint's usage report.",
            ["arm", "route"],
            buckets=TOKEN_BUCKETS,
            registry=registry,
        )
        self.finish_reasons = Counter(
            "taxmeter_shadow_finish_reasons",
            "Answers by finish_reason (stop, length, content_filter, tool_calls, other, none).",
            ["arm", "route", "reason"],
            registry=registry,
        )
        self.reused = Counter(
            "taxmeter_shadow_production_reused",
            "Jobs whose production answer was reused instead of calling that arm.",
            ["arm", "route"],
            registry=registry,
        )
        self.sink_errors = Counter(
            "taxmeter_shadow_sink_errors",
            "Complete pairs the pair sink failed on (jobs counted failed).",
            ["route"],
            registry=registry,
        )
        self.queue_wait = Histogram(
            "taxmeter_shadow_queue_wait_seconds",
            "Time a job waited in the queue before a worker took it.",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )

    def observe(
        self,
        route: RouteLabel,
        result: ArmResult,
        *,
        trace_id: str | None = None,
        distributions: bool = True,
    ) -> None:
        """Count one arm result. ``distributions=False`` counts the call only (noise repeats)."""
        arm = result.arm.value
        if result.reused_production:
            self.reused.labels(arm, route).inc()
        else:
            self.requests.labels(arm, route, result.outcome.value).inc()
            if result.error_reason is not None:
                self.errors.labels(arm, route, result.error_reason).inc()
        if not result.answered or not distributions:
            return
        self.finish_reasons.labels(arm, route, finish_reason_label(result.finish_reason)).inc()
        exemplar = {"trace_id": trace_id} if trace_id else None
        if not result.reused_production:
            if result.latency_s is not None:
                self.latency.labels(arm, route).observe(result.latency_s, exemplar)
            if result.ttft_s is not None:
                self.ttft.labels(arm, route).observe(result.ttft_s, exemplar)
        # A count without a source was given by whoever built the result: the server's.
        source: str | None = None
        if result.completion_tokens is not None:
            source = result.tokens_source or "server"
        self.token_sources.labels(arm, route, source or "none").inc()
        if result.completion_tokens is not None and source is not None:
            self.output_tokens.labels(arm, route, source).observe(result.completion_tokens)
        if result.prompt_tokens is not None:
            self.prompt_tokens.labels(arm, route).observe(result.prompt_tokens)
