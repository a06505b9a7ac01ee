"""Tokenisation of judge inputs with the MiniLM tokenizer (response, pair, dual)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges_fixtures import minilm_tokenizer_path
from taxmeter.errors import JudgeLoadError
from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer
from taxmeter.types import JudgeInput

CLS, SEP, PAD = 101, 102, 0


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return load_tokenizer("t", minilm_tokenizer_path())


def test_response_kind_pads_to_longest_in_batch_with_mask(tok: Tokenizer) -> None:
    jt = JudgeTokenizer(tok, kind="response", max_length=32)
    feeds = jt.encode([JudgeInput("ignored", "hello world"), JudgeInput("x", "hi")])
    ids, mask = feeds["input_ids"], feeds["attention_mask"]
    assert ids.dtype == np.int64 and mask.dtype == np.int64
    assert ids.shape == (2, 4)  # [CLS] hello world [SEP]
    assert ids[0, 0] == CLS and ids[0, 3] == SEP
    assert list(ids[1]) == [CLS, ids[1, 1], SEP, PAD]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert feeds["token_type_ids"].shape == (2, 4)


def test_long_response_is_truncated_to_max_length_keeping_its_start(tok: Tokenizer) -> None:
    jt = JudgeTokenizer(tok, kind="response", max_length=16)
    long_text = "first " + "word " * 5000
    feeds = jt.encode([JudgeInput("", long_text)])
    ids = feeds["input_ids"][0]
    assert ids.shape == (16,)
    assert ids[0] == CLS and ids[-1] == SEP
    assert ids[1] == tok.token_to_id("first")


def test_pair_kind_cuts_the_prompt_first_and_keeps_its_start(tok: Tokenizer) -> None:
    jt = JudgeTokenizer(tok, kind="pair", max_length=12)
    prompt = "omega " + "alpha " * 30
    feeds = jt.encode([JudgeInput(prompt, "yes sure")])
    ids = feeds["input_ids"][0].tolist()
    types = feeds["token_type_ids"][0].tolist()
    assert len(ids) == 12
    # [CLS] prompt... [SEP] yes sure [SEP]: the whole response survives
    assert ids[-3:] == [tok.token_to_id("yes"), tok.token_to_id("sure"), SEP]
    assert ids[-4] == SEP and ids[1] == tok.token_to_id("omega")
    assert ids[-5] == tok.token_to_id("alpha")
    assert types[-3:] == [1, 1, 1] and types[0] == 0


def test_pair_kind_cuts_the_response_when_it_alone_is_too_long(tok: Tokenizer) -> None:
    jt = JudgeTokenizer(tok, kind="pair", max_length=10)
    feeds = jt.encode([JudgeInput("question", "answer " * 50)])
    assert feeds["input_ids"].shape == (1, 10)


def test_dual_kind_encodes_prompt_and_response_as_separate_sequences(tok: Tokenizer) -> None:
    jt = JudgeTokenizer(tok, kind="dual", max_length=16)
    feeds = jt.encode([JudgeInput("how are you", "fine"), JudgeInput("hi", "a longer answer here")])
    assert set(feeds) == {
        "prompt_input_ids",
        "prompt_attention_mask",
        "prompt_token_type_ids",
        "response_input_ids",
        "response_attention_mask",
        "response_token_type_ids",
    }
    assert feeds["prompt_input_ids"].shape == (2, 5)
    assert feeds["response_input_ids"].shape == (2, 6)
    assert feeds["response_attention_mask"][0].tolist() == [1, 1, 1, 0, 0, 0]


def test_empty_texts_still_encode_special_tokens(tok: Tokenizer) -> None:
    jt = JudgeTokenizer(tok, kind="dual", max_length=16)
    feeds = jt.encode([JudgeInput("", "")])
    assert feeds["response_input_ids"][0].tolist() == [CLS, SEP]


def test_garbled_tokenizer_file_raises_load_error_naming_the_judge(tmp_path: Path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{ not json", encoding="utf-8")
    with pytest.raises(JudgeLoadError, match=r"'myjudge'.*could not be read"):
        load_tokenizer("myjudge", bad)


def test_missing_tokenizer_file_raises_load_error(tmp_path: Path) -> None:
    with pytest.raises(JudgeLoadError, match="does not exist"):
        load_tokenizer("j", tmp_path / "nope.json")
