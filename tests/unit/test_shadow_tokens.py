"""Token counting for answers without usage: the tokenizer file, its errors, the judge fallback."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from taxmeter.errors import ConfigError
from taxmeter.shadow.tokens import TokenizerCounter, find_judge_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges_fixtures import minilm_tokenizer_path


def test_counts_without_special_tokens() -> None:
    counter = TokenizerCounter(minilm_tokenizer_path())
    assert counter.count("") == 0
    assert counter.count("hello world") == 2  # no [CLS]/[SEP]


def test_a_missing_or_garbled_file_stops_startup_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"shadow\.tokenizer"):
        TokenizerCounter(tmp_path / "absent.json")
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="could not be read"):
        TokenizerCounter(bad, field_path="judges.repository")


def test_the_fallback_is_the_first_selected_judges_tokenizer(tmp_path: Path) -> None:
    assert find_judge_tokenizer(tmp_path / "absent", None) is None
    for name in ("b-judge", "a-judge"):
        (tmp_path / name).mkdir()
    (tmp_path / "a-judge" / "model.onnx").write_bytes(b"")
    assert find_judge_tokenizer(tmp_path, None) is None
    shutil.copyfile(minilm_tokenizer_path(), tmp_path / "b-judge" / "tokenizer.json")
    assert find_judge_tokenizer(tmp_path, None) == tmp_path / "b-judge" / "tokenizer.json"
    assert find_judge_tokenizer(tmp_path, ["a-judge"]) is None
