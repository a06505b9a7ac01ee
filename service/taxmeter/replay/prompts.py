"""Prompt sources for ``taxmeter replay``.

A prompt file is either JSONL, one OpenAI chat-completions body per line (with optional
top-level ``route`` and ``category`` fields, which are taxmeter's and are removed before the body
is sent), or plain text, one user prompt per line. The format is decided by the first non-blank
line: a JSON object means JSONL. Blank lines are skipped in both (they keep their line number).

``builtin:demo[:N]`` is the demo's prompt set (benign and harmful prompts over four routes),
``N`` requests drawn as the demo's traffic generator draws them (default 400).

Each item has a ``key``: a hash of its line, so that a resume log can tell that the prompt file
changed under it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from taxmeter.errors import InvalidRequestError
from taxmeter.types import JSONObject

BUILTIN_PREFIX = "builtin:"
BUILTIN_DEMO_DEFAULT_N = 400
MAX_LINE_BYTES = 4 * 1024 * 1024
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ROUTE_CHARS = frozenset(_ALNUM + "-_./")  # the configuration's `routes` allowlist
_CATEGORY_CHARS = frozenset(_ALNUM + "-_.:")  # the `tax.categories` allowlist


@dataclass(frozen=True, slots=True)
class PromptItem:
    """One prompt to replay: ``index`` is its 0-based position among the file's prompts."""

    index: int
    line: int
    key: str
    body: JSONObject
    route: str
    category: str | None


def _label(
    value: object, field: str, line: int, default: str | None, chars: frozenset[str]
) -> str | None:
    if value is None:
        return default
    if not isinstance(value, str) or not value or len(value) > 64 or not set(value) <= chars:
        shown = "".join(sorted(chars - set(_ALNUM)))
        raise InvalidRequestError(
            f"line {line}: {field}", f"must be 1-64 characters of [A-Za-z0-9{shown}]"
        )
    return value


def parse_body(text: str, line: int, *, default_route: str) -> tuple[JSONObject, str, str | None]:
    """A JSONL line → (body without taxmeter's fields, route, category)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(f"line {line}", f"not JSON ({exc.msg})") from None
    if not isinstance(doc, dict):
        raise InvalidRequestError(f"line {line}", "must be a JSON object (a chat body)")
    route = _label(doc.pop("route", None), "route", line, default_route, _ROUTE_CHARS)
    category = _label(doc.pop("category", None), "category", line, None, _CATEGORY_CHARS)
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError(f"line {line}: messages", "required, a non-empty list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise InvalidRequestError(
                f"line {line}: messages[{i}]", "must be an object with a string 'role'"
            )
    assert route is not None
    return doc, route, category


def _key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def read_prompt_file(path: Path, *, default_route: str = "replay") -> Iterator[PromptItem]:
    """Stream the items of ``path`` (raises ``InvalidRequestError`` naming the line)."""
    jsonl: bool | None = None
    index = 0
    with path.open("r", encoding="utf-8") as f:
        for line_no, raw in enumerate(f, start=1):
            if len(raw) > MAX_LINE_BYTES:
                raise InvalidRequestError(f"line {line_no}", f"longer than {MAX_LINE_BYTES} bytes")
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            if jsonl is None:
                jsonl = text.lstrip().startswith("{")
            if jsonl:
                body, route, category = parse_body(text, line_no, default_route=default_route)
            else:
                body = {"messages": [{"role": "user", "content": text}]}
                route, category = default_route, None
            yield PromptItem(index, line_no, _key(text), body, route, category)
            index += 1


def builtin_demo(n: int = BUILTIN_DEMO_DEFAULT_N, seed: int = 7) -> list[PromptItem]:
    """The demo's traffic as prompts: route from the demo's routes, category = the route's
    category or topic (support, coding, health, writing)."""
    from taxmeter.demo.config import DemoConfig
    from taxmeter.demo.prompts import TOPICS
    from taxmeter.demo.traffic import TrafficPlan

    demo = DemoConfig(seed=seed)
    plan = TrafficPlan(demo)
    items = []
    for i in range(n):
        planned = plan.next()
        body = planned.body(seed)
        route = planned.route
        topic = route.topic or (route.name if route.name in TOPICS else None)
        category = route.category or topic
        text = json.dumps(body, sort_keys=True)
        items.append(PromptItem(i, i + 1, _key(text), body, route.name, category))
    return items


def load_prompts(source: str, *, default_route: str = "replay") -> list[PromptItem]:
    """All items of a file or a ``builtin:`` set (a file of 50,000 prompts is a few MB)."""
    if source.startswith(BUILTIN_PREFIX):
        name, _, count = source[len(BUILTIN_PREFIX) :].partition(":")
        if name != "demo":
            raise InvalidRequestError(
                "PROMPTS", f"unknown built-in set {name!r} (try builtin:demo)"
            )
        try:
            n = int(count) if count else BUILTIN_DEMO_DEFAULT_N
        except ValueError:
            raise InvalidRequestError(
                "PROMPTS", f"builtin:demo:N needs an integer, got {count!r}"
            ) from None
        if n < 1:
            raise InvalidRequestError("PROMPTS", "builtin:demo:N needs N >= 1")
        return builtin_demo(n)
    path = Path(source)
    if not path.is_file():
        raise InvalidRequestError("PROMPTS", f"{path} is not a readable file")
    items = list(read_prompt_file(path, default_route=default_route))
    if not items:
        raise InvalidRequestError("PROMPTS", f"{path} has no prompts")
    return items


def prompts_digest(items: list[PromptItem]) -> str:
    """One hash of every item's key, in order: a resume log belongs to exactly this list."""
    h = hashlib.blake2b(digest_size=16)
    for item in items:
        h.update(item.key.encode())
    return h.hexdigest()
