"""Counting answer tokens when an endpoint reports no usage.

Servers that ignore ``stream_options.include_usage`` (llama.cpp's Python server, older vLLM and
TGI, some gateways) give streamed answers without token counts. The dispatcher then counts the
answer text with a ``TokenCounter``: a Hugging Face ``tokenizer.json`` (``shadow.tokenizer``, or
the first judge's). A pair's two counts always come from one source: when one arm has the
server's count and the other not, both are counted with the tokenizer (``tokens_source``
``tokenizer``), so the token overhead never divides a server count by a tokenizer count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from tokenizers import Tokenizer

from taxmeter.errors import ConfigError

TOKEN_SOURCES = ("server", "tokenizer", "none")
"""``source`` label values: the endpoint's usage, taxmeter's tokenizer, no count."""


class TokenCounter(Protocol):
    """Counts the tokens of an answer text."""

    def count(self, text: str) -> int: ...


class TokenizerCounter:
    """A ``TokenCounter`` over a Hugging Face ``tokenizers`` file (no special tokens added)."""

    def __init__(self, path: Path, *, field_path: str = "shadow.tokenizer") -> None:
        if not path.is_file():
            raise ConfigError(field_path, f"tokenizer file {path} does not exist")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception for any parse problem
            raise ConfigError(
                field_path, f"tokenizer file {path} could not be read: {exc}"
            ) from None
        tok.no_truncation()
        tok.no_padding()
        self._tok = tok
        self.path = path

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._tok.encode(text, add_special_tokens=False).ids)


def find_judge_tokenizer(repository: Path, judges: list[str] | None) -> Path | None:
    """The ``tokenizer.json`` of the first (selected) judge of a repository, or None."""
    if not repository.is_dir():
        return None
    for folder in sorted(p for p in repository.iterdir() if p.is_dir()):
        if judges is not None and folder.name not in judges:
            continue
        candidate = folder / "tokenizer.json"
        if candidate.is_file():
            return candidate
    return None
