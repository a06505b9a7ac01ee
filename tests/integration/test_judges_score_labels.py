"""``taxmeter score`` with labelled lines: confusion matrix and corrected rates (issue 10)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
import structlog
from audit_fixtures import CAUGHT_REFUSAL, MISSED_REFUSAL, PLAIN_ANSWER, biased_judges
from taxmeter.judgetools.score import register


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxmeter")
    register(parser.add_subparsers())
    args = parser.parse_args(["score", *argv])
    code: int = args.func(args)
    return code


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def test_labelled_lines_give_the_confusion_matrix_and_a_corrected_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 400 answers, 100 refusals (half in a wording the keyword judge misses); the first 200
    # lines are labelled. Judge rate 0.125; true rate 0.25.
    lines = []
    for i in range(400):
        refusal = i % 4 == 0
        text = (
            (CAUGHT_REFUSAL if (i // 4) % 2 == 0 else MISSED_REFUSAL) if refusal else PLAIN_ANSWER
        )
        row: dict[str, object] = {"prompt": f"question {i}", "response": text}
        if i < 200:
            row["label"] = {"refusal": refusal, "unsafe": False}
        lines.append(json.dumps(row))
    src = tmp_path / "labelled.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run([str(src), "--judges", str(biased_judges(tmp_path))]) == 0
    err = capsys.readouterr().err
    assert "refusal: 200 labelled of 400 scored" in err
    assert re.search(r"judge yes\s+25\s+0\b", err), err
    assert re.search(r"judge no\s+25\s+150\b", err), err
    m = re.search(
        r"refusal: .*?corrected \(prediction-powered.*?\): ([\d.]+) \[([\d.]+), "
        r"([\d.]+)\]",
        err,
        re.DOTALL,
    )
    assert m is not None, err
    low, high = float(m.group(2)), float(m.group(3))
    assert low <= 0.25 <= high
    assert "rate: judge 0.125" in err


def test_a_malformed_label_is_a_bad_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text(
        json.dumps({"prompt": "p", "response": "r", "label": {"refusal": "yes"}}) + "\n",
        encoding="utf-8",
    )
    assert run([str(src), "--judges", str(biased_judges(tmp_path))]) == 1
    assert "label.refusal must be true or false" in capsys.readouterr().err
