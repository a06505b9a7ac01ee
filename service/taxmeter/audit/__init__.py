"""The audit sample and its auditors: reference labels for a random share of complete pairs,
from which the tax aggregator computes judge-error-corrected figures (``tax/ppi.py``).

Public API (wired by ``app.py``): :class:`AuditConfig`, :class:`AuditStage` (a
``PairObserver`` in front of the aggregator), :class:`LlmAuditor`, :class:`AuditMetrics`.
"""

from __future__ import annotations

from taxmeter.audit.auditor import AuditFailed, Auditor, Labelled, LlmAuditor, parse_reply
from taxmeter.audit.config import AuditConfig, AuditorConfig
from taxmeter.audit.metrics import AuditMetrics
from taxmeter.audit.stage import AuditStage, in_audit_sample

__all__ = [
    "AuditConfig",
    "AuditFailed",
    "AuditMetrics",
    "AuditStage",
    "Auditor",
    "AuditorConfig",
    "Labelled",
    "LlmAuditor",
    "in_audit_sample",
    "parse_reply",
]
