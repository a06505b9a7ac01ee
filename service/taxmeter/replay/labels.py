"""Reference labels for a replay (``--labels FILE``): people's labels of some pairs, from which
the report computes judge-error-corrected figures (``tax/ppi.py``, as the sidecar does).

The format is ``taxmeter audit import``'s (``audit/people.py``), one JSON object a line, the
pair id being the replay's prompt index (its position in the prompt file, from 0; a string as
``audit export`` writes it, or a number)::

    {"pair_id": "17", "label": {"guarded":   {"refusal": true,  "unsafe": false, "quality": 0.1},
                                "unguarded": {"refusal": false, "unsafe": false, "quality": 0.9}}}

Other fields (``prompt``, the answers, ``route``: an exported item as it comes back from its
labellers) are ignored. Each label line is parsed by ``audit.people.parse_reference`` against the
scored pair it names (a guard-blocked arm needs no label: it is a refusal). Every line ends in
one counted outcome: ``imported``, ``unknown_pair`` (no scored pair has that id: a prompt that
failed, or an id from another run) or ``invalid`` (not a JSON object with a pair id, a missing
or wrong value, or a second label for the same pair).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from taxmeter.audit.people import parse_reference
from taxmeter.errors import ConfigError
from taxmeter.types import ScoredPair

MAX_LINE_CHARS = 4 * 1024 * 1024  # as the audit desk's socket reads


def _pair_index(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit() and len(value) <= 12:
        return int(value)
    return None


class LabelSet:
    """The label lines of one file by prompt index; :meth:`attach` gives a scored pair its
    reference and counts what became of every line (:meth:`tally`)."""

    def __init__(self, source: str, lines: dict[int, Any], invalid: int) -> None:
        self.source = source
        self._lines = lines
        self._invalid = invalid
        self._imported: set[int] = set()
        self._rejected: set[int] = set()

    @classmethod
    def load(cls, path: Path) -> LabelSet:
        """Read a labels file (an unreadable file is a configuration error naming it)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("labels", f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError("labels", f"{path} is not UTF-8 text") from None
        return cls.parse(str(path), text.splitlines())

    @classmethod
    def parse(cls, source: str, lines: list[str]) -> LabelSet:
        by_index: dict[int, Any] = {}
        invalid = 0
        for line in lines:
            if not line.strip():
                continue
            try:
                obj = json.loads(line) if len(line) <= MAX_LINE_CHARS else None
            except ValueError:
                obj = None
            index = _pair_index(obj.get("pair_id")) if isinstance(obj, dict) else None
            if index is None or index in by_index:
                invalid += 1
                continue
            by_index[index] = obj
        return cls(source, by_index, invalid)

    def attach(self, scored: ScoredPair) -> ScoredPair:
        """``scored`` with the reference its label line gives (as it was when it has none, or
        when the line is invalid: counted)."""
        index = _pair_index(scored.pair.request_id)
        obj = self._lines.get(index) if index is not None else None
        if obj is None or index is None:
            return scored
        reference = parse_reference(obj, scored.pair)
        if reference is None:
            self._rejected.add(index)
            return scored
        self._imported.add(index)
        return dataclasses.replace(scored, reference=reference)

    def tally(self) -> dict[str, int]:
        """``imported``, ``unknown_pair``, ``invalid`` (as ``taxmeter audit import`` says)."""
        seen = self._imported | self._rejected
        return {
            "imported": len(self._imported),
            "unknown_pair": len(set(self._lines) - seen),
            "invalid": self._invalid + len(self._rejected),
        }
