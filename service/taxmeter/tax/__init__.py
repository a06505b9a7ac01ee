"""Paired alignment-tax statistics: windows, intervals, confidence sequences, export.

Public API (wired by ``app.py``):

- :class:`TaxConfig` — this component's configuration slice.
- :class:`TaxAggregator` — ``observe(ScoredPair)``, ``routes()``, ``summary(route)``,
  ``snapshot()``.
- :class:`TaxCollector` — the scrape-time export of an aggregator; ``app.py`` registers it.
- :class:`RouteSummary` and friends — plain values for the live terminal view.
"""

from __future__ import annotations

from taxmeter.tax.aggregator import TaxAggregator
from taxmeter.tax.collector import TaxCollector
from taxmeter.tax.config import TaxConfig
from taxmeter.tax.summary import (
    LatencySummary,
    NoiseSummary,
    ProportionSummary,
    QualitySummary,
    RouteSummary,
    WindowSummary,
)

__all__ = [
    "LatencySummary",
    "NoiseSummary",
    "ProportionSummary",
    "QualitySummary",
    "RouteSummary",
    "TaxAggregator",
    "TaxCollector",
    "TaxConfig",
    "WindowSummary",
]
