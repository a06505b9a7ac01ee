"""Helpers for the end-to-end validity test of the over-refusal estimate (issue 4).

How the refusal judge's error maps a true over-refusal rate ``r`` to the rate taxmeter
measures, the inverse of that map, and the widening of an exported interval by the judge's
documented error (see docs/statistics-e2e.md for the derivation):

    E[measured] = r · (1 − FNR) · (1 − FPR) + (1 − r) · c,   c ∈ [0, FPR · (1 − FPR)]
    r           = (m − c) / ((1 − FNR) · (1 − FPR) − c)

``c = FPR·(1 − FPR)`` when the judge's errors on the two arms are independent (the formula of
the issue), ``c = 0`` when both arms gave the same helpful answer and the judge is
deterministic (as in the demo, where a non-refused guarded answer is the unguarded one).

Not a test module; import it as ``tax_e2e_fixtures`` (``tests`` is on ``sys.path``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taxmeter.demo.config import DemoRouteConfig
from taxmeter.demo.endpoints import Decision, decide
from taxmeter.shadow.prompt import judge_prompt
from taxmeter.tax.estimators import Interval, wilson

JUDGES_ENV = "TAXMETER_DEFAULT_JUDGES"
"""Points at an already built default judge repository (the convention of
``tests/integration/test_judges_default_build.py``)."""

FPR_GRID_STEPS = 1000
"""The inverse is monotone in FNR but not always in FPR: FPR is scanned on this grid (ends
included) for the worst case over the box."""


# -- the error model ------------------------------------------------------------------------


def expected_measured(
    r: float, fnr: float, fpr: float, *, false_pair: float | None = None
) -> float:
    """Expected over-refusal rate that taxmeter reports when the true rate is ``r``.

    A pair counts when the judge calls the guarded answer a refusal and the unguarded one
    not: a true refusal is caught with ``1 − FNR`` and the (helpful) unguarded answer escapes
    a false positive with ``1 − FPR``; a helpful guarded answer counts with ``false_pair``,
    the chance that it is called a refusal while the unguarded one is not: ``FPR·(1 − FPR)``
    when the judge's errors on the two arms are independent (the default), 0 when both arms
    gave the same answer and the judge is deterministic (the errors cancel).
    """
    c = fpr * (1.0 - fpr) if false_pair is None else false_pair
    return r * (1.0 - fnr) * (1.0 - fpr) + (1.0 - r) * c


def invert(measured: float, fnr: float, fpr: float, *, false_pair: float | None = None) -> float:
    """The ``r`` with ``expected_measured(r, fnr, fpr, false_pair=...) == measured`` (not
    clipped to [0, 1]). With independent errors it needs ``FNR + FPR < 1``."""
    c = fpr * (1.0 - fpr) if false_pair is None else false_pair
    denominator = (1.0 - fnr) * (1.0 - fpr) - c
    if denominator <= 0.0:
        raise ValueError(f"uninformative judge: FNR {fnr}, FPR {fpr}")
    return (measured - c) / denominator


def widen(
    measured: Interval, fnr: Interval, fpr: Interval, *, steps: int = FPR_GRID_STEPS
) -> Interval:
    """Interval for the true rate ``r`` from an interval of the measured rate.

    Worst case over the box ``fnr × fpr`` and over ``false_pair`` in [0, FPR·(1 − FPR)]
    (the arms' false positives independent, or positively correlated up to identical):
    ``invert`` grows with the measured rate and falls with ``false_pair``, so the low end is
    the smallest ``invert(measured.low)`` with independent errors and the high end the
    largest ``invert(measured.high, false_pair=0)``, clipped to [0, 1]. ``invert`` is
    monotone in FNR (both ends of ``fnr`` are evaluated) and is evaluated on ``steps + 1``
    points of ``fpr``. A box that reaches ``FNR + FPR >= 1`` says nothing: (0, 1).
    """
    if not (0.0 <= measured.low <= measured.high <= 1.0):
        raise ValueError(f"not an interval in [0, 1]: {measured}")
    if fnr.high + fpr.high >= 1.0:
        return Interval(0.0, 1.0)
    lows: list[float] = []
    highs: list[float] = []
    span = fpr.high - fpr.low
    for i in range(steps + 1 if span > 0 else 1):
        a = fpr.low + span * i / steps
        for b in (fnr.low, fnr.high):
            lows.append(invert(measured.low, b, a))
            highs.append(invert(measured.high, b, a, false_pair=0.0))
    return Interval(min(1.0, max(0.0, min(lows))), min(1.0, max(0.0, max(highs))))


# -- the refusal judge's documented error ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefusalJudgeError:
    """The refusal head's error on its evaluation set, as counts, with Wilson intervals."""

    positives: int
    negatives: int
    false_negatives: int
    false_positives: int
    alpha: float

    @property
    def fnr(self) -> float:
        return self.false_negatives / self.positives

    @property
    def fpr(self) -> float:
        return self.false_positives / self.negatives

    @property
    def fnr_interval(self) -> Interval:
        iv = wilson(self.false_negatives, self.positives, self.alpha)
        assert iv is not None
        return iv

    @property
    def fpr_interval(self) -> Interval:
        iv = wilson(self.false_positives, self.negatives, self.alpha)
        assert iv is not None
        return iv

    @classmethod
    def from_report(
        cls, report: Mapping[str, Any], *, alpha: float = 0.05, head: str = "refusal"
    ) -> RefusalJudgeError:
        """From ``build_report.json``'s ``metrics.<head>``: ``n``, ``positives`` and the
        rates ``fnr``/``fpr`` (rounded to 4 decimals, so the counts are recovered exactly)."""
        m = report["metrics"][head]
        n, positives = int(m["n"]), int(m["positives"])
        negatives = n - positives
        if positives <= 0 or negatives <= 0:
            raise ValueError(f"{head}: the evaluation set needs positives and negatives")
        fn = round(float(m["fnr"]) * positives)
        fp = round(float(m["fpr"]) * negatives)
        for name, rate, count, total in (
            ("fnr", m["fnr"], fn, positives),
            ("fpr", m["fpr"], fp, negatives),
        ):
            if abs(count / total - float(rate)) > 6e-5:
                raise ValueError(f"{head}.{name} {rate} is not a count over {total}")
        return cls(positives, negatives, fn, fp, alpha)

    @classmethod
    def from_repository(cls, repo: Path, *, alpha: float = 0.05) -> RefusalJudgeError:
        path = repo / "default" / "build_report.json"
        return cls.from_report(json.loads(path.read_text(encoding="utf-8")), alpha=alpha)


def default_judges() -> Path:
    """``$TAXMETER_DEFAULT_JUDGES`` when set, else the default judges in the user cache,
    built there the first time (``ensure_default_repository``, ≈ 40 s)."""
    given = os.environ.get(JUDGES_ENV)
    if given:
        return Path(given)
    from taxmeter.judgetools import ensure_default_repository

    return ensure_default_repository()


# -- what the simulated endpoints actually did ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayedPair:
    """One shadowed request as the simulated personas answered it (replayed by ``decide``)."""

    route: str
    prompt: str
    guarded: Decision
    unguarded: Decision


def replay(
    bodies: Iterable[bytes], routes: Iterable[DemoRouteConfig], seed: int
) -> list[ReplayedPair]:
    """The personas' decisions for the request bodies an endpoint kept (both arms get the same
    body, so the guarded endpoint's bodies give both answers)."""
    by_name = {r.name: r for r in routes}
    out = []
    for raw in bodies:
        body = json.loads(raw)
        meta = body.get("metadata") or {}
        route = str(meta.get("route", ""))
        nonce = str(meta.get("nonce", ""))
        prompt = judge_prompt(body)
        out.append(
            ReplayedPair(
                route,
                prompt,
                decide("guarded", by_name.get(route), prompt, nonce, seed, latency_scale=0.0),
                decide("unguarded", by_name.get(route), prompt, nonce, seed, latency_scale=0.0),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class RealisedRoute:
    """Per route: what the personas did, and what the judge's decisions on those very texts
    imply taxmeter counts (eligible pairs, over-refusals)."""

    requests: int = 0
    refusals: int = 0  # guarded refusals actually sent (the realised over-refusals)
    caught: int = 0  # of those, judged a refusal
    helpful: int = 0  # guarded non-refusals
    false_refusals: int = 0  # of those, judged a refusal
    eligible: int = 0
    over_refusals: int = 0

    @property
    def share(self) -> float:
        return self.refusals / self.requests if self.requests else float("nan")


JudgedText = Mapping[tuple[str, str], tuple[bool, bool]]
"""(prompt, answer) -> (judged a refusal, judged unsafe)."""


def realised(pairs: Iterable[ReplayedPair], judged: JudgedText) -> dict[str, RealisedRoute]:
    """Tally replayed pairs per route; ``judged`` has the judge's decisions on their texts."""
    acc: dict[str, Counter[str]] = {}
    for p in pairs:
        c = acc.setdefault(p.route, Counter())
        # a guard block (HTTP 400) is a refusal without being judged, as in the aggregator
        g_ref = p.guarded.kind == "filter_block" or judged[(p.prompt, p.guarded.text)][0]
        u_ref, u_unsafe = judged[(p.prompt, p.unguarded.text)]
        c["requests"] += 1
        if p.guarded.refusal:
            c["refusals"] += 1
            c["caught"] += int(g_ref)
        else:
            c["helpful"] += 1
            c["false_refusals"] += int(g_ref)
        if not u_unsafe:
            c["eligible"] += 1
            c["over_refusals"] += int(g_ref and not u_ref)
    return {route: RealisedRoute(**c) for route, c in acc.items()}
