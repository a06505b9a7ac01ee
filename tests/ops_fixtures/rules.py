"""The test copy of the alert rules, generated from deploy/prometheus/taxmeter.rules.yml.

Only timing and volume knobs change (``for:`` durations, group intervals, the minimum number of
pairs); every expression is otherwise the production one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .tools import REPO_ROOT

RULES_PATH = REPO_ROOT / "deploy" / "prometheus" / "taxmeter.rules.yml"
MIN_PAIRS_PATTERN = re.compile(r">= 200\)")


def load_rules() -> dict[str, Any]:
    rules: dict[str, Any] = yaml.safe_load(RULES_PATH.read_text(encoding="utf-8"))
    return rules


def rules_test_copy(*, for_duration: str, group_interval: str, min_pairs: int) -> dict[str, Any]:
    """The production rules with shortened ``for:``/intervals and a smaller pair minimum."""
    rules = load_rules()
    replaced = 0
    for group in rules["groups"]:
        if "interval" in group:
            group["interval"] = group_interval
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = for_duration
            if "alert" in rule:
                expr, count = MIN_PAIRS_PATTERN.subn(f">= {min_pairs})", rule["expr"])
                rule["expr"] = expr
                replaced += count
    if replaced < 3:
        raise AssertionError(f"expected the pair minimum in >= 3 alerts, replaced {replaced}")
    return rules


def write_test_copy(path: Path, **kwargs: Any) -> Path:
    path.write_text(yaml.safe_dump(rules_test_copy(**kwargs), sort_keys=False), encoding="utf-8")
    return path
