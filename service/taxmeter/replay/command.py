"""``taxmeter replay PROMPTS --config FILE``: the alignment tax of two endpoints on a prompt
file, offline, with the sidecar's client, judges and statistics; see docs/replay.md.

    taxmeter replay prompts.jsonl -c taxmeter.yaml --report out/report.html
    taxmeter replay prompts.jsonl -c taxmeter.yaml --record out/rec     # keep the answers
    taxmeter replay --from-record out/rec -c taxmeter.yaml --report out/rescored.html
    taxmeter replay builtin:demo --simulate --report first.html         # a first run

Writes REPORT (HTML), REPORT's stem + ``.json`` and ``.md``, and a resume log (default: the
stem + ``.resume.jsonl``); rerunning the same command after an interruption continues where it
stopped. Exit codes: 0 done, 1 some prompts failed or were not judged (the report says which),
2 bad input or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taxmeter.errors import ConfigError, InvalidRequestError, JudgeLoadError
from taxmeter.replay.session import run_replay

__all__ = ["register", "run_replay"]
# run_replay's modules (session, inputs) import the rest of the package only when a run
# starts: `taxmeter --help` stays instant and works on a client-only install.


def _number(
    kind: type[int] | type[float], low: float, high: float | None = None, *, low_open: bool = False
) -> Callable[[str], Any]:
    """An argparse type: a number in [low, high] (or (low, high]), else a usage error."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < low or (low_open and value == low) or (high is not None and value > high):
            bound = f"{'>' if low_open else '>='} {low:g}" + (f" and <= {high:g}" if high else "")
            raise argparse.ArgumentTypeError(f"{text} must be {bound}")
        return value

    return parse


def register(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="send a prompt file to both arms offline and write a tax report",
        description="Replay prompts (JSONL chat bodies with optional route/category, plain text "
        "one per line, or builtin:demo[:N]) to the guarded and unguarded arms of --config, "
        "judge the answers and write an HTML, JSON and Markdown report. See docs/replay.md.",
    )
    p.add_argument("prompts", nargs="?", help="prompt file, or builtin:demo[:N]")
    p.add_argument("--config", "-c", help="taxmeter YAML (shadow arms, judges, tax)")
    p.add_argument(
        "--report",
        type=Path,
        default=Path("replay-report.html"),
        help="HTML report path; .json and .md are written beside it",
    )
    p.add_argument(
        "--resume",
        type=Path,
        default=None,
        help="resume log (default: REPORT's stem + .resume.jsonl)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start over, discarding the resume log (and the record)",
    )
    p.add_argument(
        "--record",
        type=Path,
        default=None,
        help="keep prompts and answers in DIR/answers.jsonl (production data)",
    )
    p.add_argument(
        "--from-record",
        type=Path,
        default=None,
        dest="from_record",
        help="judge and report a recorded run again, calling no model",
    )
    p.add_argument(
        "--show-text",
        action="store_true",
        help="include the largest disagreements, with their text (needs a record)",
    )
    p.add_argument(
        "--concurrency",
        type=_number(int, 1, 4096),
        default=None,
        help="prompts in flight at once (default: shadow.concurrency)",
    )
    p.add_argument(
        "--rate",
        type=_number(float, 0, low_open=True),
        default=None,
        help="at most N prompts per second",
    )
    p.add_argument(
        "--retries", type=_number(int, 0, 20), default=2, help="retries of a failed arm call"
    )
    p.add_argument(
        "--noise-floor-rate",
        type=_number(float, 0, 1),
        default=None,
        help="share of prompts sent twice to one arm (default: shadow.noise_floor_rate)",
    )
    p.add_argument("--default-route", default="replay", help="route of prompts that name none")
    p.add_argument("--judges", type=Path, default=None, help="judge repository (overrides config)")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="use the demo's simulated endpoints on loopback (a first run)",
    )
    p.add_argument(
        "--labels",
        type=Path,
        default=None,
        help="reference labels of some pairs (taxmeter audit import's JSONL, pair_id "
        "= prompt index): the report adds judge-error-corrected figures",
    )
    p.add_argument(
        "--export-audit",
        type=Path,
        default=None,
        dest="export_audit",
        help="write the audit sample's prompts and answers to a new 0600 JSONL file "
        "for people to label (needs a record)",
    )
    p.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto")
    p.set_defaults(func=_cmd_replay)
    return p


def _fail(message: str) -> int:
    print(f"taxmeter replay: {message}", file=sys.stderr)
    return 2


def _cmd_replay(args: argparse.Namespace) -> int:
    from taxmeter.telemetry.logging import configure_logging

    configure_logging("warning", "console")
    try:
        return asyncio.run(run_replay(args))
    except (ConfigError, InvalidRequestError) as exc:
        return _fail(str(exc))
    except JudgeLoadError as exc:
        return _fail(f"judges: {exc}")
    except OSError as exc:
        return _fail(f"{exc.filename or ''}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        print(
            "taxmeter replay: interrupted; run the same command again to continue", file=sys.stderr
        )
        return 130
