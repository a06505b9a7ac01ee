"""The audit stage's metrics (created against the registry passed in)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class AuditMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.selected = Counter(
            "taxmeter_audit_selected",
            "Complete pairs drawn for the audit sample, by how "
            "each ended: labelled, skipped_budget, skipped_cost_budget, skipped_queue_full, "
            "auditor_failed, shutdown (all but labelled are aggregated judge-only).",
            ["route", "outcome"],
            registry=registry,
        )
        self.requests = Counter(
            "taxmeter_auditor_requests",
            "Auditor calls, by outcome: ok, unparsable, timeout, error.",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "taxmeter_auditor_request_seconds",
            "Auditor call latency.",
            registry=registry,
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
        )
        self.tokens = Counter(
            "taxmeter_auditor_tokens",
            "Auditor tokens (cost), by kind: prompt, completion.",
            ["kind"],
            registry=registry,
        )
        self.people = Counter(
            "taxmeter_audit_people",
            "Items of the people's audit, by outcome: imported, "
            "unknown_pair, invalid (label lines), expired (pending too long).",
            ["outcome"],
            registry=registry,
        )
        self.people_pending = Gauge(
            "taxmeter_audit_people_pending",
            "Audit items waiting for people's labels (their text in memory).",
            registry=registry,
        )
        self.pending = Gauge(
            "taxmeter_audit_pending", "Audited pairs waiting for the auditor.", registry=registry
        )
