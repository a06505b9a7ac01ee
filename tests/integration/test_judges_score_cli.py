"""``taxmeter score`` on a JSONL file, with a tiny random-weight judge repository."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges_fixtures import default_manifest, write_judge
from taxmeter.judgetools.score import register


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="taxmeter")
    register(parser.add_subparsers())
    args = parser.parse_args(["score", *argv])
    code: int = args.func(args)
    return code


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    """The score command points structlog at stderr unless logging was configured (the CLI
    does that, to stderr); start from, and leave, structlog's defaults."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "judges"
    write_judge(r, "default")
    return r


def test_every_line_scored_gives_exit_zero_and_one_record_per_line(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(json.dumps({"prompt": f"q{i}", "response": "a " * i}) for i in range(5)) + "\n",
        encoding="utf-8",
    )
    assert run([str(src), "--judges", str(repo)]) == 0
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    for r in records:
        for key in ("refusal", "unsafe", "quality"):
            assert 0.0 <= r[key] <= 1.0
            assert r[key] == r["scores"][f"default.{key}"]


def test_bad_lines_are_reported_with_line_numbers_and_the_rest_scored(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"prompt": "hi", "response": "hello"}\n'
        "not json at all\n"
        '{"prompt": "only a prompt"}\n'
        '{"prompt": 3, "response": "x"}\n'
        '{"prompt": "ok", "response": "fine"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    assert run([str(src), "--judges", str(repo), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "line 2: not valid JSON" in err
    assert "line 3: missing field 'response'" in err
    assert "line 4: field 'prompt' must be a string" in err
    records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 5]
    assert [("error" in r) for r in records] == [False, True, True, True, False]
    assert "quality" in records[4]


def test_user_judges_appear_under_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = tmp_path / "judges"
    manifest = default_manifest("mine")
    manifest["heads"] = [
        {
            "name": "reward",
            "role": "other",
            "output": "logits",
            "index": 0,
            "transform": "raw",
            "range": [-5.0, 5.0],
            "calibration": {"method": "none"},
        }
    ]
    write_judge(r, "mine", manifest=manifest)
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "p", "response": "r"}\n', encoding="utf-8")
    assert run([str(src), "--judges", str(r)]) == 0
    [record] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert set(record) == {"line", "scores"}
    assert 0.0 <= record["scores"]["mine.reward"] <= 1.0


def test_missing_repository_exits_two_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"prompt": "p", "response": "r"}\n', encoding="utf-8")
    assert run([str(src), "--judges", str(tmp_path / "nowhere")]) == 2
    assert str(tmp_path / "nowhere") in capsys.readouterr().err
