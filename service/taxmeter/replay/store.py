"""The resume log and the answer record of a replay, both JSONL, one line per prompt.

Resume log (always written): a header line naming the prompt list (a digest of its items),
then one line per finished prompt: ``scored`` with each answer's metadata (outcome, latency,
TTFT, tokens) and every judge head's score and decision, or ``failed``/``shed`` with a reason.
It holds **no prompt or answer text**. A run that is killed loses at most the line being
written: on open, a last line without its newline (or not JSON) is cut off, and the prompts
without a line are replayed. The final report is computed from this log alone, in prompt
order, so an interrupted and resumed run gives the same numbers as an uninterrupted one.

Record (``--record DIR``, opt-in): ``DIR/answers.jsonl`` has the same lines plus the judged
prompt and both answers' text (production data: the user asked for it), so that judging and
reporting can be rerun without calling the models (``--from-record DIR``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import os
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from taxmeter.errors import ConfigError
from taxmeter.types import ArmResult, HeadScore, JudgeScores

LOG_VERSION = 1
_ARM_FIELDS = tuple(f.name for f in dataclasses.fields(ArmResult))
_ARM_HINTS = typing.get_type_hints(ArmResult)


def _enum_of(name: str) -> type[enum.Enum] | None:
    hint = _ARM_HINTS.get(name)
    for t in (hint, *typing.get_args(hint)):
        if isinstance(t, type) and issubclass(t, enum.Enum):
            return t
    return None


def arm_to_json(result: ArmResult, *, with_text: bool) -> dict[str, Any]:
    """Every field of an ``ArmResult`` (enums as their values); the text only if asked.

    Generic over the dataclass's fields, so a field the endpoint client adds later is kept
    and comes back in :func:`arm_from_json`: the aggregator sees what the sidecar's sees."""
    out: dict[str, Any] = {}
    for name in _ARM_FIELDS:
        if name == "text" and not with_text:
            continue
        value = getattr(result, name)
        out[name] = value.value if isinstance(value, enum.Enum) else value
    return out


def arm_from_json(d: Mapping[str, Any]) -> ArmResult:
    kwargs: dict[str, Any] = {}
    for name in _ARM_FIELDS:
        if name not in d:
            continue  # an older log, or the text not recorded: the field's default
        value = d[name]
        kind = _enum_of(name)
        kwargs[name] = kind(value) if kind is not None and value is not None else value
    return ArmResult(**kwargs)


def scores_to_json(scores: JudgeScores) -> dict[str, list[Any]]:
    return {k: [float(s.value), bool(s.decision)] for k, s in sorted(scores.items())}


def scores_from_json(d: Mapping[str, Any]) -> dict[str, HeadScore]:
    return {k: HeadScore(float(v[0]), bool(v[1])) for k, v in d.items()}


class _Entries(Mapping[int, dict[str, Any]]):
    """The log's lines by prompt index, read from disk on access (the last line of an index
    wins): a 50,000-prompt log is not held in memory."""

    def __init__(self, offsets: Mapping[int, int], reader: IO[bytes]) -> None:
        self._offsets = offsets
        self._reader = reader

    def __getitem__(self, index: int) -> dict[str, Any]:
        self._reader.seek(self._offsets[index])
        doc: dict[str, Any] = json.loads(self._reader.readline())
        return doc

    def __iter__(self) -> Iterator[int]:
        return iter(self._offsets)

    def __len__(self) -> int:
        return len(self._offsets)


class JsonlLog:
    """An append-only JSONL file whose first line is a header (see the module docstring).

    ``status`` maps each prompt index with a line to its status; ``reading()`` gives every
    line by index, read from disk.
    """

    def __init__(self, path: Path, header: Mapping[str, Any], *, fresh: bool = False) -> None:
        self.path = path
        self.header = dict(header)
        self.status: dict[int, str] = {}
        self._offsets: dict[int, int] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if fresh or not path.exists() or path.stat().st_size == 0:
            with path.open("wb") as f:
                f.write(self._line({"kind": "header", **self.header}))
        else:
            self._load()
        self._file: IO[bytes] | None = path.open("ab")

    @staticmethod
    def _line(doc: Mapping[str, Any]) -> bytes:
        return (json.dumps(doc, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    def _load(self) -> None:
        good = 0
        with self.path.open("rb") as f:
            for n, raw in enumerate(iter(f.readline, b"")):
                if not raw.endswith(b"\n"):
                    break  # cut off mid-write
                try:
                    doc = json.loads(raw)
                except ValueError:
                    break
                if not isinstance(doc, dict):
                    break
                if n == 0:
                    self._check_header(doc)
                else:
                    i = int(doc["i"])
                    self.status[i] = str(doc.get("status"))
                    self._offsets[i] = good
                good += len(raw)
        if good == 0:
            raise ConfigError(
                "resume", f"{self.path}: no valid header line; delete it or pass --fresh"
            )
        if good < self.path.stat().st_size:
            with self.path.open("r+b") as f:
                f.truncate(good)

    def _check_header(self, doc: Mapping[str, Any]) -> None:
        if doc.get("kind") != "header":
            raise ConfigError("resume", f"{self.path}: not a replay log (no header line)")
        for key in ("version", "prompts", "n"):
            if doc.get(key) != self.header.get(key):
                raise ConfigError(
                    "resume",
                    f"{self.path} belongs to another run ({key} {doc.get(key)!r} != "
                    f"{self.header.get(key)!r}): pass --fresh to start over, or another path",
                )

    def append(self, entry: Mapping[str, Any]) -> None:
        assert self._file is not None
        offset = self._file.tell()
        self._file.write(self._line(entry))
        self._file.flush()  # in the OS after every line: a SIGKILL loses nothing written
        i = int(entry["i"])
        self.status[i] = str(entry.get("status"))
        self._offsets[i] = offset

    @contextlib.contextmanager
    def reading(self) -> Iterator[Mapping[int, dict[str, Any]]]:
        """Every line by prompt index (the last one of each), read from disk on access."""
        if self._file is not None:
            self._file.flush()
        with self.path.open("rb") as reader:
            yield _Entries(self._offsets, reader)

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def read_header(path: Path) -> dict[str, Any]:
    for doc in iter_log(path):
        return doc
    raise ConfigError("from_record", f"{path} is empty")


def iter_log(path: Path) -> Iterator[dict[str, Any]]:
    """The header, then every complete line of a log or record, streamed (read-only)."""
    try:
        f = path.open("r", encoding="utf-8")
    except OSError as exc:
        raise ConfigError("from_record", f"cannot read {path}: {exc.strerror}") from None
    with f:
        for n, raw in enumerate(f):
            if not raw.endswith("\n"):
                break
            try:
                doc = json.loads(raw)
            except ValueError:
                raise ConfigError("from_record", f"{path}: line {n + 1} is not JSON") from None
            if n == 0 and (not isinstance(doc, dict) or doc.get("kind") != "header"):
                raise ConfigError("from_record", f"{path}: no header line")
            yield doc


def iter_ordered(entries: Mapping[int, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for i in sorted(entries):
        yield entries[i]
