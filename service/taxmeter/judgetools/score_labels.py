"""``taxmeter score`` with labelled lines: the judge's confusion matrix and corrected rates.

A line may carry ``"label": {"refusal": bool, "unsafe": bool, "quality": 0..1}`` (any subset
of the keys): a person's (or an auditor's) reference for that answer. After scoring, the
report (stderr) gives per head the confusion matrix of the judge's decision against the
labels, and the rate over all scored lines three ways: the judge's, the labels' (labelled
lines only) and the prediction-powered one (``tax/ppi.py``: the judge on every line plus the
mean label − judge difference on the labelled lines), each with a 95 % interval. Labelling
a uniformly random subset is what makes the corrected rate valid; label 200 lines of your
own traffic before trusting a judge on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taxmeter.tax.estimators import wilson
from taxmeter.tax.ppi import MOMENTS, RatioSums, pair_moments, ppi_ratio

ROLES = ("refusal", "unsafe", "quality")


def parse_label(obj: dict[str, Any]) -> tuple[dict[str, float] | None, str | None]:
    """The optional ``label`` of an input line: (values by role, or None; error)."""
    raw = obj.get("label")
    if raw is None:
        return None, None
    if not isinstance(raw, dict) or not raw or set(raw) - set(ROLES):
        return None, f"'label' must be an object with keys among {list(ROLES)}"
    out: dict[str, float] = {}
    for key, value in raw.items():
        if key == "quality":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0.0 <= float(value) <= 1.0
            ):
                return None, "label.quality must be a number in [0, 1]"
            out[key] = float(value)
        else:
            if not isinstance(value, bool):
                return None, f"label.{key} must be true or false"
            out[key] = 1.0 if value else 0.0
    return out, None


@dataclass
class _Head:
    n_all: float = 0.0
    f_all: float = 0.0
    n: float = 0.0
    m: dict[str, float] = field(default_factory=lambda: dict.fromkeys(MOMENTS, 0.0))


@dataclass
class LabelTally:
    """Sums per role over every scored line and over the labelled ones."""

    heads: dict[str, _Head] = field(default_factory=lambda: {r: _Head() for r in ROLES})

    def add(self, judge: dict[str, float], label: dict[str, float] | None) -> None:
        """``judge``: the decision (0/1) for refusal/unsafe, the score for quality."""
        for role, fa in judge.items():
            h = self.heads[role]
            h.n_all += 1
            h.f_all += fa
            if label is not None and role in label:
                h.n += 1
                for k, v in pair_moments(label[role], 1.0, fa, 1.0).items():
                    h.m[k] += v

    @property
    def labelled(self) -> bool:
        return any(h.n > 0 for h in self.heads.values())

    def report(self, alpha: float = 0.05) -> str:
        lines = ["", "judge vs labels (95 % intervals):"]
        for role, h in self.heads.items():
            if h.n == 0:
                continue
            s = RatioSums(h.n_all, h.f_all, h.n_all, h.n, h.m)
            est = ppi_ratio(s, alpha, low=0.0, high=1.0)
            if role != "quality":
                tp = h.m["afa"]
                fn, fp = h.m["a"] - tp, h.m["fa"] - tp
                tn = h.n - tp - fn - fp
                lines.append(f"  {role}: {int(h.n)} labelled of {int(h.n_all)} scored")
                lines.append("                 label yes  label no")
                lines.append(f"    judge yes  {int(tp):10d} {int(fp):9d}")
                lines.append(f"    judge no   {int(fn):10d} {int(tn):9d}")
                fnr = wilson(fn, tp + fn, alpha)
                fpr = wilson(fp, fp + tn, alpha)
                if tp + fn > 0 and fnr is not None:
                    lines.append(
                        f"    false-negative rate {fn / (tp + fn):.3f} "
                        f"[{fnr.low:.3f}, {fnr.high:.3f}]"
                    )
                if fp + tn > 0 and fpr is not None:
                    lines.append(
                        f"    false-positive rate {fp / (fp + tn):.3f} "
                        f"[{fpr.low:.3f}, {fpr.high:.3f}]"
                    )
                judge_iv = wilson(h.f_all, h.n_all, alpha)
                label_iv = wilson(h.m["a"], h.n, alpha)
                assert judge_iv is not None and label_iv is not None
                lines.append(
                    f"    rate: judge {h.f_all / h.n_all:.3f} [{judge_iv.low:.3f}, "
                    f"{judge_iv.high:.3f}]; labels {h.m['a'] / h.n:.3f} "
                    f"[{label_iv.low:.3f}, {label_iv.high:.3f}]"
                )
            else:
                mae = (h.m["aa"] - 2 * h.m["afa"] + h.m["fafa"]) / h.n
                lines.append(
                    f"  quality: {int(h.n)} labelled of {int(h.n_all)} scored; "
                    f"mean judge {h.f_all / h.n_all:.3f}, mean label "
                    f"{h.m['a'] / h.n:.3f}, mean squared error {mae:.4f}"
                )
            if est is not None and est.ci is not None:
                lines.append(
                    f"    corrected (prediction-powered, λ = {est.lam:.2f}): "
                    f"{est.point:.3f} [{est.ci.low:.3f}, {est.ci.high:.3f}]"
                )
            else:
                lines.append("    corrected: needs at least 2 labelled lines")
        return "\n".join(lines) + "\n"
