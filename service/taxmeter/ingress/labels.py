"""Route and category names as label values: an allowlist with everything else folded into
``other`` (counted), so the series a sender can create stay bounded.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter
from prometheus_client.registry import CollectorRegistry

from taxmeter.types import RouteLabel

OTHER: Final = "other"
UNKNOWN: Final = "unknown"
MAX_LABEL_BYTES: Final = 128


class RouteNormalizer:
    """Maps a sender's route and category names to bounded label values.

    An allowlisted name is kept; anything else becomes ``other``. An absent route is ``None``
    here (the codec uses the configured ``default_route``, always a valid label); an absent
    category stays ``None``. ``unknown`` is only used by the edge for requests rejected before
    their route could be read.
    """

    def __init__(
        self,
        routes: frozenset[str],
        categories: frozenset[str] = frozenset(),
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._routes = frozenset(routes)
        self._categories = frozenset(categories)
        self._folded = (
            Counter(
                "taxmeter_label_values_folded",
                "Requests whose route or category name was not in the allowlist and is "
                "exported as `other` (the series budget holds whatever senders send).",
                ["label"],
                registry=registry,
            )
            if registry is not None
            else None
        )
        if self._folded is not None:
            for label in ("route", "category"):
                self._folded.labels(label)

    def route(self, name: str | None) -> RouteLabel | None:
        if not name:
            return None
        if name in self._routes:
            return name
        if self._folded is not None:
            self._folded.labels("route").inc()
        return OTHER

    def category(self, name: str | None) -> RouteLabel | None:
        if not name:
            return None
        if name in self._categories:
            return name
        if self._folded is not None:
            self._folded.labels("category").inc()
        return OTHER
