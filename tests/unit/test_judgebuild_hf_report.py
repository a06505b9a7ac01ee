"""The summary ``taxmeter judges import`` prints from its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from taxmeter.judgetools.hf_import import FP16_WARN_SCORE_DIFF, ImportReport


def _report(score_diff: float | None) -> dict[str, Any]:
    return {
        "architecture": "RobertaForSequenceClassification",
        "layers": 6,
        "hidden_size": 768,
        "input": {"kind": "response", "max_length": 512},
        "labels": ["NORMAL", "REJECTION"],
        "heads": [
            {
                "name": "refusal",
                "role": "refusal",
                "transform": "softmax",
                "label": "REJECTION",
                "label_index": 1,
                "threshold": 0.5,
            }
        ],
        "parity": {
            "probes": 4,
            "fp16_max_abs_score_diff": score_diff,
            "fp16_max_abs_logit_diff": None if score_diff is None else 10 * score_diff,
        },
        "probe_scores": [
            {"prompt": "p", "response": "I can't help with that.", "scores": {"refusal": 0.98}}
        ],
    }


@pytest.mark.parametrize(
    ("diff", "warned"),
    [(None, False), (FP16_WARN_SCORE_DIFF / 10, False), (FP16_WARN_SCORE_DIFF * 10, True)],
)
def test_summary_warns_when_the_fp16_variant_moves_scores(diff: float | None, warned: bool) -> None:
    lines = ImportReport(Path("j"), _report(diff)).summary_lines()
    assert "  labels: 0=NORMAL, 1=REJECTION" in lines
    assert any("head refusal (role refusal): softmax of label 'REJECTION'" in x for x in lines)
    assert any("refusal 0.980" in x for x in lines)
    assert any("warning: the fp16 variant" in x for x in lines) is warned
