"""The offline composition: the sidecar's judge engine, ``JudgingSink`` and ``TaxAggregator``,
wired for a replay instead of live traffic (``app.py`` wires the same parts for the sidecar).

- :func:`compose` — the judge engine (``JudgeEngine.from_config`` plus the sidecar's startup
  check that the heads the statistics read exist, ``app.check_tax_heads``) behind the
  sidecar's ``JudgingSink``, which reports scored pairs to a :class:`LogObserver`;
  :func:`compose_audited` puts the audit stage (:func:`audit_observer`) in between.
- :func:`offline_tax_config` — the tax section with the category allowlist the sidecar would
  use (``tax.categories``, else the top-level ``categories``), extended by the categories the
  prompt file names (up to the allowlist's bound; the rest are counted as ``other``).
- :class:`LogObserver` — the ``PairObserver`` the ``JudgingSink`` reports to during a run: it
  writes each scored pair to the resume log (and the record), in whatever order pairs finish.
- :func:`aggregate` — the ``TaxAggregator`` fed from the log, in prompt order: the one place
  numbers are made, for a live replay, a resumed one and ``--from-record`` alike. With
  ``audit_min_pairs`` the aggregator keeps the audit sums (as the sidecar's with
  ``audit.enabled``) and pairs with a reference (the LLM auditor's, kept in the log, or a
  ``--labels`` line, which wins) feed the judge-error-corrected figures.
- :func:`audit_observer` — the sidecar's ``AuditStage`` with its ``LlmAuditor`` in front of
  the log when the configuration enables an LLM auditor: the same sample, budgets and labels.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from taxmeter.audit import AuditMetrics, AuditStage, LlmAuditor
from taxmeter.audit.people import parse_reference
from taxmeter.config import Config
from taxmeter.judges.engine import JudgeEngine
from taxmeter.pipeline import JudgingSink
from taxmeter.replay.labels import LabelSet
from taxmeter.replay.store import (
    JsonlLog,
    arm_from_json,
    arm_to_json,
    iter_ordered,
    scores_from_json,
    scores_to_json,
)
from taxmeter.tax.aggregator import TaxAggregator
from taxmeter.tax.config import TaxConfig
from taxmeter.types import PairObserver, ScoredPair, ShadowPair, SystemClock

MAX_CATEGORIES = 32  # TaxConfig.categories' bound (the series budget of the sidecar)


def build_engine(config: Config, registry: CollectorRegistry) -> JudgeEngine:
    from taxmeter.app import check_tax_heads

    engine = JudgeEngine.from_config(config.judges, registry)
    check_tax_heads(config, {h.key for h in engine.heads})
    return engine


def audit_observer(
    config: Config, inner: PairObserver, registry: CollectorRegistry
) -> AuditStage | None:
    """The sidecar's audit stage in front of ``inner`` when ``audit`` enables an LLM auditor
    (``audit.people`` is the sidecar's socket for people; a replay takes ``--labels``)."""
    audit = config.audit
    if not audit.enabled or audit.auditor is None:
        return None
    metrics = AuditMetrics(registry)
    auditor = LlmAuditor(audit.auditor, metrics, environ=os.environ)
    return AuditStage(audit, auditor, inner, metrics, clock=SystemClock())


def compose(
    config: Config, log: JsonlLog, record: JsonlLog | None, registry: CollectorRegistry
) -> tuple[JudgeEngine, JudgingSink]:
    """The engine (not started) and the sink a replay hands its pairs to (no audit stage)."""
    engine = build_engine(config, registry)
    return engine, JudgingSink(engine, LogObserver(log, record))


def compose_audited(
    config: Config, log: JsonlLog, record: JsonlLog | None, registry: CollectorRegistry
) -> tuple[JudgeEngine, JudgingSink, AuditStage | None]:
    """As :func:`compose`, with the audit stage between the sink and the log when the
    configuration enables an LLM auditor (to close when the run ends)."""
    engine = build_engine(config, registry)
    logger = LogObserver(log, record)
    stage = audit_observer(config, logger, registry)
    return engine, JudgingSink(engine, stage or logger), stage


def offline_tax_config(config: Config, categories: Iterable[str | None]) -> TaxConfig:
    tax = config.tax
    allow = list(tax.categories or config.categories)
    for cat in categories:
        if cat is None or cat in allow or cat in ("other", "all"):
            continue
        if len(allow) >= MAX_CATEGORIES:
            break
        allow.append(cat)
    return TaxConfig.model_validate({**tax.model_dump(), "categories": allow})


_PAIR_CORE = frozenset(
    {"request_id", "route", "category", "prompt", "guarded", "unguarded", "repeat", "trace_id"}
)
_PAIR_EXTRA = tuple(f.name for f in dataclasses.fields(ShadowPair) if f.name not in _PAIR_CORE)
"""Further ``ShadowPair`` fields (plain values), kept in the log so that the aggregator sees them
as the sidecar's does."""


def entry_of(scored: ScoredPair, *, with_text: bool) -> dict[str, Any]:
    """The log line of one scored pair (``request_id`` is the prompt index)."""
    pair = scored.pair
    entry: dict[str, Any] = {
        "i": int(pair.request_id),
        "route": pair.route,
        "category": pair.category,
        "status": "scored",
        "arms": {
            "guarded": arm_to_json(pair.guarded, with_text=with_text),
            "unguarded": arm_to_json(pair.unguarded, with_text=with_text),
            "repeat": None
            if pair.repeat is None
            else arm_to_json(pair.repeat, with_text=with_text),
        },
        "scores": {
            "guarded": scores_to_json(scored.guarded),
            "unguarded": scores_to_json(scored.unguarded),
            "repeat": None if scored.repeat is None else scores_to_json(scored.repeat),
        },
    }
    extra = {name: getattr(pair, name) for name in _PAIR_EXTRA}
    if extra:
        entry["pair"] = extra
    if scored.reference is not None:  # the LLM auditor's labels (``audit import``'s format)
        entry["reference"] = {
            arm: dataclasses.asdict(label)
            for arm, label in (
                ("guarded", scored.reference.guarded),
                ("unguarded", scored.reference.unguarded),
            )
        }
    if with_text:
        entry["prompt"] = pair.prompt
    return entry


def scored_of(entry: Mapping[str, Any]) -> ScoredPair:
    """The ``ScoredPair`` a ``scored`` log line stands for (text only if recorded)."""
    arms, scores = entry["arms"], entry["scores"]
    repeat = arms.get("repeat")
    extra = {k: v for k, v in (entry.get("pair") or {}).items() if k in _PAIR_EXTRA}
    pair = ShadowPair(
        request_id=str(entry["i"]),
        route=entry["route"],
        category=entry.get("category"),
        prompt=str(entry.get("prompt", "")),
        guarded=arm_from_json(arms["guarded"]),
        unguarded=arm_from_json(arms["unguarded"]),
        repeat=None if repeat is None else arm_from_json(repeat),
        **extra,
    )
    rep_scores = scores.get("repeat")
    ref = entry.get("reference")
    return ScoredPair(
        pair=pair,
        guarded=scores_from_json(scores["guarded"]),
        unguarded=scores_from_json(scores["unguarded"]),
        repeat=None if rep_scores is None or pair.repeat is None else scores_from_json(rep_scores),
        reference=None if ref is None else parse_reference({"label": ref}, pair),
    )


def pair_of(entry: Mapping[str, Any]) -> ShadowPair:
    """The ``ShadowPair`` (with text) of a recorded line, for judging it again."""
    return scored_of(entry).pair


class LogObserver:
    """Implements ``types.PairObserver``: scored pairs go to the log (and the record)."""

    def __init__(self, log: JsonlLog, record: JsonlLog | None = None) -> None:
        self._log = log
        self._record = record

    def observe(self, scored: ScoredPair) -> None:
        if self._record is not None:  # the record first: the log line means "done"
            self._record.append(entry_of(scored, with_text=True))
        self._log.append(entry_of(scored, with_text=False))


def new_aggregator(tax: TaxConfig, audit_min_pairs: int | None = None) -> TaxAggregator:
    """A ``TaxAggregator`` for offline use (no collector: its figures go to the report)."""
    return TaxAggregator(tax, clock=SystemClock(), audit_min_pairs=audit_min_pairs)


def aggregate(
    tax: TaxConfig,
    entries: Mapping[int, Mapping[str, Any]],
    *,
    audit_min_pairs: int | None = None,
    labels: LabelSet | None = None,
) -> TaxAggregator:
    """A fresh ``TaxAggregator`` fed every scored line of ``entries`` in prompt order.

    ``audit_min_pairs``: auditing on (corrected figures from that many audited pairs in a group
    on); a pair's reference is its ``labels`` line if it has one, else the auditor's in the log.
    Without it every reference is ignored and the figures are judge-only."""
    aggregator = new_aggregator(tax, audit_min_pairs)
    for entry in iter_ordered(entries):  # type: ignore[arg-type]
        if entry.get("status") == "scored":
            scored = scored_of(entry)
            if audit_min_pairs is None:
                scored = dataclasses.replace(scored, reference=None)
            elif labels is not None:
                scored = labels.attach(scored)
            aggregator.observe(scored)
    return aggregator
