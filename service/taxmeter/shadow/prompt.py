"""The prompt the judges see: the last user message of a chat-completions body, as text.

Content parts are flattened: text parts joined with newlines, other parts (images, audio,
files) replaced by a short placeholder so that the judge knows something was there.
"""

from __future__ import annotations

from typing import Any

from taxmeter.types import JSONObject

MAX_PROMPT_CHARS = 32_000
"""Judges truncate to their own token limit; this only bounds memory."""

_PLACEHOLDERS = {
    "image_url": "[image]",
    "input_image": "[image]",
    "input_audio": "[audio]",
    "file": "[file]",
    "input_file": "[file]",
}


def content_text(content: Any) -> str:
    """Text of a message ``content``: a string, or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces: list[str] = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                text = part.get("text")
                if isinstance(text, str) and kind in (None, "text", "input_text", "output_text"):
                    pieces.append(text)
                elif isinstance(kind, str):
                    pieces.append(_PLACEHOLDERS.get(kind, f"[{kind[:32]}]"))
        return "\n".join(p for p in pieces if p)
    return ""


def judge_prompt(body: JSONObject, *, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """The last user message's text (the last message with text if no user message has any)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    fallback = ""
    for message in reversed(messages):
        if not isinstance(message, dict):
            continue
        text = content_text(message.get("content"))
        if not text:
            continue
        if message.get("role") == "user":
            return text[:max_chars]
        if not fallback:
            fallback = text
    return fallback[:max_chars]
