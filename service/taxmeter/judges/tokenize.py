"""Tokenisation for judges: response, pair and dual inputs, truncated and padded per batch.

Texts are first cut to about ``max_length * 6`` characters (far more than ``max_length``
tokens for any normal text; encoding long texts whole was measured 2.7x slower), then encoded
without special tokens with ``encode_batch`` (Rust, parallel), truncated, finished with the
tokenizer's own post-processor (``[CLS] ... [SEP]`` and friends) and padded to the longest
sequence in the batch. Truncation keeps the start of each text (Hugging Face's default, which
is what exported classifiers and the default judge's training saw), and for ``pair`` inputs
cuts the prompt first.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Literal

import numpy as np
from tokenizers import Encoding, Tokenizer

from taxmeter.errors import JudgeLoadError
from taxmeter.types import JudgeInput

__all__ = ["CHARS_PER_TOKEN_CAP", "JudgeTokenizer", "load_tokenizer"]

CHARS_PER_TOKEN_CAP = 6
"""Texts are cut to ``max_length * CHARS_PER_TOKEN_CAP`` characters before encoding."""

InputKind = Literal["response", "pair", "dual"]


def load_tokenizer(judge: str, path: Path) -> Tokenizer:
    """Load a HF ``tokenizers`` file; a missing or garbled file raises ``JudgeLoadError``."""
    if not path.is_file():
        raise JudgeLoadError(judge, f"tokenizer file {path} does not exist")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception for any parse problem
        raise JudgeLoadError(judge, f"tokenizer file {path} could not be read: {exc}") from exc
    tok.no_truncation()
    tok.no_padding()
    return tok


class JudgeTokenizer:
    """Turns ``JudgeInput`` batches into int64 feeds keyed by input *role* (see manifest)."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        *,
        kind: InputKind,
        max_length: int,
        with_token_type_ids: bool = True,
    ) -> None:
        if max_length < 8:
            raise ValueError("max_length must be at least 8")
        self._tok = tokenizer
        self._kind = kind
        self._max_length = max_length
        self._with_types = with_token_type_ids
        self._max_chars = max_length * CHARS_PER_TOKEN_CAP
        self._single_specials = tokenizer.num_special_tokens_to_add(False)
        self._pair_specials = tokenizer.num_special_tokens_to_add(True)
        self._pad_id = _pad_id(tokenizer)

    @property
    def kind(self) -> InputKind:
        return self._kind

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def vocab_size(self) -> int:
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    def estimate_length(self, item: JudgeInput) -> int:
        """A cheap length key for grouping (characters the encoder will see)."""
        if self._kind == "response":
            return min(len(item.response), self._max_chars)
        return min(len(item.prompt), self._max_chars) + min(len(item.response), self._max_chars)

    def dedup_key(self, item: JudgeInput) -> str | tuple[str, str]:
        """Equal for two items exactly when their encoded inputs are equal (what the judge
        sees: the answer for ``response`` judges, else prompt and answer, as cut)."""
        response = item.response[: self._max_chars]
        if self._kind == "response":
            return response
        return (item.prompt[: self._max_chars], response)

    def encode(self, items: Sequence[JudgeInput]) -> dict[str, np.ndarray]:
        """Encode a batch: role name → int64 ``[batch, longest]`` array."""
        if not items:
            raise ValueError("encode needs at least one item")
        responses = [it.response[: self._max_chars] for it in items]
        if self._kind == "response":
            encs = self._tok.encode_batch(responses, add_special_tokens=False)
            return self._pad([self._single(e) for e in encs], "")
        prompts = [it.prompt[: self._max_chars] for it in items]
        encoded = self._tok.encode_batch([*prompts, *responses], add_special_tokens=False)
        p_encs, r_encs = encoded[: len(items)], encoded[len(items) :]
        if self._kind == "dual":
            feeds = self._pad([self._single(e) for e in p_encs], "prompt_")
            feeds.update(self._pad([self._single(e) for e in r_encs], "response_"))
            return feeds
        return self._pad([self._pair(p, r) for p, r in zip(p_encs, r_encs, strict=True)], "")

    def _single(self, enc: Encoding) -> Encoding:
        budget = self._max_length - self._single_specials
        if len(enc.ids) > budget:
            enc.truncate(budget, direction="right")
        return self._tok.post_process(enc, None, add_special_tokens=True)

    def _pair(self, prompt: Encoding, response: Encoding) -> Encoding:
        budget = self._max_length - self._pair_specials
        n_p, n_r = len(prompt.ids), len(response.ids)
        if n_p + n_r > budget:
            keep_r = min(n_r, budget)
            keep_p = budget - keep_r
            if keep_r < n_r:
                response.truncate(keep_r, direction="right")
            prompt.truncate(keep_p, direction="right")
        return self._tok.post_process(prompt, response, add_special_tokens=True)

    def _pad(self, encs: Sequence[Encoding], prefix: str) -> dict[str, np.ndarray]:
        lengths = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
        longest = max(1, int(lengths.max()))
        n = len(encs)
        # one boolean mask of the real tokens fills every row at once (row-major order)
        real = np.arange(longest)[None, :] < lengths[:, None]
        total = int(lengths.sum())
        ids = np.full((n, longest), self._pad_id, dtype=np.int64)
        ids[real] = np.fromiter(chain.from_iterable(e.ids for e in encs), np.int64, total)
        mask = real.astype(np.int64)
        types = np.zeros((n, longest), dtype=np.int64)
        if self._with_types:
            types[real] = np.fromiter(
                chain.from_iterable(e.type_ids for e in encs), np.int64, total
            )
        feeds = {f"{prefix}input_ids": ids, f"{prefix}attention_mask": mask}
        if self._with_types:
            feeds[f"{prefix}token_type_ids"] = types
        return feeds


def _pad_id(tok: Tokenizer) -> int:
    for candidate in ("[PAD]", "<pad>", "<|pad|>", "<|endoftext|>"):
        tid = tok.token_to_id(candidate)
        if tid is not None:
            return int(tid)
    return 0
