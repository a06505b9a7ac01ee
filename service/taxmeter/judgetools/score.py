"""``taxmeter score FILE.jsonl``: score prompt/response pairs offline with the judge engine.

Each input line is a JSON object with ``prompt`` and ``response`` strings. Each output line
(stdout, or ``-o FILE``), in input order::

    {"line": 3, "refusal": 0.02, "unsafe": 0.01, "quality": 0.91,
     "scores": {"default.refusal": 0.02, ..., "mine.reward": 0.7}}

The top-level ``refusal``/``unsafe``/``quality`` come from the ``default`` judge's head with
that role (or else the first judge that has one); ``scores`` holds every head of every judge.
A bad line gives ``{"line": n, "error": "..."}`` and a message on stderr; the other lines are
still scored. Lines may carry a reference ``label`` (``judgetools/score_labels.py``); then a
report on stderr gives the judge's confusion matrix and the corrected rates. Exit code: 0
when every line was scored, 1 when some were bad, 2 when the judges
could not be loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from taxmeter.judgetools.score_labels import LabelTally

if TYPE_CHECKING:
    from taxmeter.judges.engine import HeadInfo, JudgeEngine

__all__ = ["register", "run_score"]

_ROLES = ("refusal", "unsafe", "quality")
_CHUNK = 256


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``score`` sub-command (``args.func(args) -> int``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "score",
        help="score prompt/response pairs from a JSONL file with the judges",
        description="Score each {prompt, response} line of FILE.jsonl ('-' for stdin).",
    )
    p.add_argument("file", help="JSONL input with 'prompt' and 'response' per line, or '-'")
    p.add_argument("-o", "--output", help="write JSONL here instead of stdout")
    p.add_argument(
        "--judges",
        type=Path,
        help="judge repository folder (default: the built-in default judges)",
    )
    p.add_argument(
        "--provider",
        choices=("cpu", "cuda"),
        default="cpu",
        help="preferred ONNX Runtime provider (cuda falls back to cpu)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="max items per inference batch")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads")
    p.set_defaults(func=run_score)
    return p


def run_score(args: argparse.Namespace) -> int:
    from taxmeter.errors import TaxmeterError

    _logs_to_stderr()
    try:
        repo = args.judges if args.judges is not None else _default_repository()
    except TaxmeterError as exc:
        print(f"taxmeter score: {exc}", file=sys.stderr)
        return 2
    if repo is None:
        print(
            "taxmeter score: no default judge repository is available in this build; "
            "pass --judges DIR",
            file=sys.stderr,
        )
        return 2
    with contextlib.ExitStack() as stack:
        try:
            src: TextIO = (
                sys.stdin
                if args.file == "-"
                else stack.enter_context(open(args.file, encoding="utf-8"))
            )
            dst: TextIO = (
                stack.enter_context(open(args.output, "w", encoding="utf-8"))
                if args.output
                else sys.stdout
            )
        except OSError as exc:
            print(f"taxmeter score: {exc}", file=sys.stderr)
            return 2
        return asyncio.run(
            _score_stream(src, dst, repo, args.provider, args.batch_size, args.threads)
        )


def _logs_to_stderr() -> None:
    """stdout carries the JSONL results: unless the CLI configured logging already, send
    structlog's (default: stdout) output to stderr, warnings and up."""
    import logging

    import structlog

    if not structlog.is_configured():
        structlog.configure(
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        )


def _default_repository() -> Path | None:
    try:
        from taxmeter import judgetools as build
    except ImportError:
        return None
    if getattr(build, "ensure_default_repository", None) is None:
        return None
    from taxmeter.judgetools.cache import first_run_default_judges

    return first_run_default_judges("score")


def _parse(n: int, raw: str) -> tuple[Any, str | None]:
    from taxmeter.judgetools.score_labels import parse_label
    from taxmeter.types import JudgeInput

    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} (column {exc.colno})"
    if not isinstance(obj, dict):
        return None, "expected a JSON object with 'prompt' and 'response'"
    for key in ("prompt", "response"):
        if key not in obj:
            return None, f"missing field {key!r}"
        if not isinstance(obj[key], str):
            return None, f"field {key!r} must be a string"
    label, err = parse_label(obj)
    if err is not None:
        return None, err
    return (JudgeInput(prompt=obj["prompt"], response=obj["response"]), label), None


def _lines(src: TextIO) -> Iterator[tuple[int, str]]:
    for n, raw in enumerate(src, start=1):
        if raw.strip():
            yield n, raw


async def _score_stream(
    src: TextIO, dst: TextIO, repo: Path, provider: str, batch_size: int, threads: int
) -> int:
    from prometheus_client import CollectorRegistry

    from taxmeter.errors import ConfigError, JudgeError, TaxmeterError
    from taxmeter.judges.config import JudgeEngineConfig
    from taxmeter.judges.engine import JudgeEngine

    try:
        config = JudgeEngineConfig(
            repository=repo,
            providers=["cuda", "cpu"] if provider == "cuda" else ["cpu"],
            max_batch_size=batch_size,
            max_queue_delay_ms=2.0,
            queue_size=max(4 * _CHUNK, batch_size),
            intra_op_threads=threads,
        )
        engine = JudgeEngine.from_config(config, CollectorRegistry())
        await engine.start()
        await engine.wait_ready()
    except (ConfigError, JudgeError, ValueError) as exc:
        print(f"taxmeter score: cannot load judges: {exc}", file=sys.stderr)
        return 2
    top = _top_level_keys(engine.heads)
    tally = LabelTally()
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    bad = done = 0
    try:
        chunk: list[tuple[int, str]] = []
        for entry in _lines(src):
            chunk.append(entry)
            if len(chunk) >= _CHUNK:
                b, d = await _score_chunk(engine, chunk, dst, top, tally)
                bad, done = bad + b, done + d
                chunk = []
                if progress:
                    progress.update(done, bad)
        if chunk:
            b, d = await _score_chunk(engine, chunk, dst, top, tally)
            bad, done = bad + b, done + d
        if progress:
            progress.update(done, bad, final=True)
    except TaxmeterError as exc:
        print(f"taxmeter score: scoring failed: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.aclose()
        dst.flush()
    if tally.labelled:
        sys.stderr.write(tally.report())
    return 1 if bad else 0


async def _score_chunk(
    engine: JudgeEngine,
    chunk: Sequence[tuple[int, str]],
    dst: TextIO,
    top: dict[str, str],
    tally: LabelTally,
) -> tuple[int, int]:
    parsed = [(n, *_parse(n, raw)) for n, raw in chunk]
    good = [(n, item) for n, item, err in parsed if err is None]
    labels = {n: item[1] for n, item in good}
    results = await asyncio.gather(
        *(engine.score(item[0]) for _, item in good), return_exceptions=True
    )
    by_line: dict[int, Any] = {n: r for (n, _), r in zip(good, results, strict=True)}
    bad = 0
    for n, _item, err in parsed:
        result = by_line.get(n)
        if err is None and isinstance(result, BaseException):
            err = f"scoring failed: {result}"
        if err is not None:
            bad += 1
            print(f"taxmeter score: line {n}: {err}", file=sys.stderr)
            record: dict[str, Any] = {"line": n, "error": err}
        else:
            assert result is not None
            scores = {k: round(v.value, 6) for k, v in result.items()}
            tally.add(
                {
                    role: (result[key].value if role == "quality" else float(result[key].decision))
                    for role, key in top.items()
                },
                labels.get(n),
            )
            record = {"line": n}
            record.update({role: scores[key] for role, key in top.items()})
            record["scores"] = scores
        dst.write(json.dumps(record) + "\n")
    return bad, len(chunk)


def _top_level_keys(heads: Sequence[HeadInfo]) -> dict[str, str]:
    """role → head key: the ``default`` judge's head with the role, else the first one."""
    top: dict[str, str] = {}
    for role in _ROLES:
        with_role = [h for h in heads if h.role == role]
        preferred = [h for h in with_role if h.judge == "default"] or with_role
        if preferred:
            top[role] = preferred[0].key
    return top


class _Progress:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def update(self, done: int, bad: int, *, final: bool = False) -> None:
        end = "\n" if final else ""
        self._stream.write(f"\rscored {done} lines ({bad} bad){end}")
        self._stream.flush()
