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
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taxmeter.errors import ConfigError, InvalidRequestError, JudgeLoadError

if TYPE_CHECKING:  # the command's modules load when it runs: `taxmeter --help` stays instant
    from taxmeter.config import Config
    from taxmeter.replay.progress import Progress
    from taxmeter.replay.prompts import PromptItem
    from taxmeter.replay.runner import ReplayOptions
    from taxmeter.replay.store import JsonlLog
    from taxmeter.types import ShadowPair

__all__ = ["register", "run_replay"]


def _number(kind: type[int] | type[float], low: float, high: float | None = None,
            *, low_open: bool = False) -> Callable[[str], Any]:
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
    p.add_argument("--report", type=Path, default=Path("replay-report.html"),
                   help="HTML report path; .json and .md are written beside it")
    p.add_argument("--resume", type=Path, default=None,
                   help="resume log (default: REPORT's stem + .resume.jsonl)")
    p.add_argument("--fresh", action="store_true",
                   help="start over, discarding the resume log (and the record)")
    p.add_argument("--record", type=Path, default=None,
                   help="keep prompts and answers in DIR/answers.jsonl (production data)")
    p.add_argument("--from-record", type=Path, default=None, dest="from_record",
                   help="judge and report a recorded run again, calling no model")
    p.add_argument("--show-text", action="store_true",
                   help="include the largest disagreements, with their text (needs a record)")
    p.add_argument("--concurrency", type=_number(int, 1, 4096), default=None,
                   help="prompts in flight at once (default: shadow.concurrency)")
    p.add_argument("--rate", type=_number(float, 0, low_open=True), default=None,
                   help="at most N prompts per second")
    p.add_argument("--retries", type=_number(int, 0, 20), default=2,
                   help="retries of a failed arm call")
    p.add_argument("--noise-floor-rate", type=_number(float, 0, 1), default=None,
                   help="share of prompts sent twice to one arm (default: shadow.noise_floor_rate)")
    p.add_argument("--default-route", default="replay",
                   help="route of prompts that name none")
    p.add_argument("--judges", type=Path, default=None, help="judge repository (overrides config)")
    p.add_argument("--simulate", action="store_true",
                   help="use the demo's simulated endpoints on loopback (a first run)")
    p.add_argument("--labels", type=Path, default=None,
                   help="reference labels of some pairs (taxmeter audit import's JSONL, pair_id "
                   "= prompt index): the report adds judge-error-corrected figures")
    p.add_argument("--export-audit", type=Path, default=None, dest="export_audit",
                   help="write the audit sample's prompts and answers to a new 0600 JSONL file "
                   "for people to label (needs a record)")
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
        print("taxmeter replay: interrupted; run the same command again to continue",
              file=sys.stderr)
        return 130


def _config_document(args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    doc: dict[str, Any] = {}
    if args.simulate:
        from taxmeter.demo.run import default_document

        doc = default_document()
    if args.config:
        try:
            text = Path(args.config).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("", f"cannot read config file {args.config}: {exc.strerror}") \
                from None
        user = yaml.safe_load(text) or {}
        if not isinstance(user, dict):
            raise ConfigError("", f"{args.config}: the top level must be a mapping of sections")
        if args.simulate:
            from taxmeter.demo.run import deep_merge

            doc = deep_merge(doc, user)
        else:
            doc = user
    elif not args.simulate:
        raise ConfigError("config", "--config FILE is required (or --simulate for a first run)")
    return doc


def _config(doc: dict[str, Any], args: argparse.Namespace, urls: tuple[str, str] | None) -> Config:
    from taxmeter.config import config_from_dict

    doc = dict(doc)
    if urls is not None:
        shadow = dict(doc.get("shadow") or {})
        shadow["guarded"] = {**(shadow.get("guarded") or {}), "base_url": urls[0]}
        shadow["unguarded"] = {**(shadow.get("unguarded") or {}), "base_url": urls[1]}
        doc["shadow"] = shadow
    judges = dict(doc.get("judges") or {})
    if args.judges is not None:
        judges["repository"] = str(args.judges)
    elif args.simulate and not judges.get("repository"):
        from taxmeter.judgetools import ensure_default_repository

        print("taxmeter replay: preparing the default judges (first run builds them)...",
              file=sys.stderr)
        judges["repository"] = str(ensure_default_repository())
    doc["judges"] = judges
    return config_from_dict(doc, os.environ)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class _Source:
    """What a run replays: a prompt list, or a record to judge again."""

    items: list[PromptItem]
    digest: str
    n: int
    name: str
    categories: set[str]
    record: Path | None  # --from-record's answers.jsonl
    recorded_arms: dict[str, Any] | None


def _check_args(args: argparse.Namespace) -> None:
    if args.from_record is not None and args.prompts:
        raise ConfigError("PROMPTS", "give either PROMPTS or --from-record, not both")
    if args.from_record is None and not args.prompts:
        raise ConfigError("PROMPTS", "a prompt file (or builtin:demo) or --from-record is needed")
    if args.show_text and args.record is None and args.from_record is None:
        raise ConfigError("show_text", "--show-text needs --record DIR or --from-record DIR "
                          "(answers are kept only there)")
    if args.export_audit is not None and args.record is None and args.from_record is None:
        raise ConfigError("export_audit", "--export-audit needs --record DIR or --from-record "
                          "DIR (answers are kept only there)")
    if args.export_audit is not None and args.export_audit.exists():
        raise ConfigError("export_audit", f"{args.export_audit} exists (never overwritten)")


def _source(args: argparse.Namespace) -> _Source:
    from taxmeter.replay.prompts import load_prompts, prompts_digest
    from taxmeter.replay.store import read_header

    if args.from_record is not None:
        path = args.from_record / "answers.jsonl"
        h = read_header(path)
        return _Source([], h["prompts"], int(h["n"]), str(h.get("source", "")),
                       set(h.get("categories") or []), path, h.get("arms"))
    items = load_prompts(args.prompts, default_route=args.default_route)
    return _Source(items, prompts_digest(items), len(items), str(args.prompts),
                   {it.category for it in items if it.category}, None, None)


async def _simulated_endpoints(demo_section: Any) -> list[Any]:
    """The demo's two personas on loopback, started (``--simulate``), configured by the
    ``demo`` section of the document (validated here: the sidecar's configuration has none)."""
    from pydantic import ValidationError

    from taxmeter.demo.config import DemoConfig
    from taxmeter.demo.endpoints import SimulatedEndpoint

    try:
        demo = DemoConfig.model_validate(demo_section or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in ("demo", *err["loc"]))
        raise ConfigError(where, err["msg"]) from None
    endpoints = [SimulatedEndpoint(persona, demo.routes, demo.seed,
                                   latency_scale=demo.latency_scale)
                 for persona in ("guarded", "unguarded")]
    for ep in endpoints:
        await ep.start()
    return endpoints


def _options(args: argparse.Namespace, config: Config) -> ReplayOptions:
    from taxmeter.replay.runner import ReplayOptions

    return ReplayOptions(
        concurrency=args.concurrency or config.shadow.concurrency,
        rate_per_s=args.rate,
        retries=args.retries,
        noise_floor_rate=(config.shadow.noise_floor_rate if args.noise_floor_rate is None
                          else args.noise_floor_rate),
        # pairs being judged at once: enough to fill batches, never enough to fill the judges'
        # queue (a full queue sheds)
        judge_tasks=max(1, min(max(2 * config.judges.max_batch_size, 8),
                               config.judges.queue_size // 3)),
    )


async def _send_or_judge(
    config: Config, source: _Source, log: JsonlLog, record: JsonlLog | None, done: set[int],
    options: ReplayOptions, progress: Progress,
) -> int:
    """Replay what is not done (or judge the record again); returns the retries made."""
    from prometheus_client import CollectorRegistry

    from taxmeter.replay.offline import compose_audited
    from taxmeter.replay.runner import ReplayRunner
    from taxmeter.shadow.endpoint import build_endpoints

    engine, sink, audit = compose_audited(config, log, record,
                                          CollectorRegistry(auto_describe=True))
    endpoints: tuple[Any, Any] | None = None
    try:
        await engine.start()
        await engine.wait_ready()
        if source.record is not None:
            runner = ReplayRunner(_Unused(), _Unused(), sink, log, options,
                                  on_done=progress.advance)
            await runner.judge_only(_recorded_pairs(source.record, done, log, progress.advance))
        else:
            endpoints = build_endpoints(config.shadow, os.environ)
            runner = ReplayRunner(endpoints[0], endpoints[1], sink, log, options,
                                  record=record, on_done=progress.advance)
            await runner.run([it for it in source.items if it.index not in done])
        return runner.counts.retries
    finally:
        if audit is not None:  # every audited pair reaches the log, labelled or judge-only
            auditor = config.audit.auditor
            assert auditor is not None
            await audit.aclose(auditor.endpoint.timeout_s * auditor.max_attempts + 5.0)
        progress.close()
        for ep in endpoints or ():
            await ep.aclose()
        await engine.aclose()


async def run_replay(args: argparse.Namespace) -> int:
    """``taxmeter replay``: replay (or judge a record again), then write the report."""
    from taxmeter.replay.labels import LabelSet
    from taxmeter.replay.offline import offline_tax_config
    from taxmeter.replay.output import ReplayPaths, report_of, write_report
    from taxmeter.replay.progress import Progress
    from taxmeter.replay.store import LOG_VERSION, JsonlLog

    _check_args(args)
    labels = LabelSet.load(args.labels) if args.labels is not None else None
    paths = ReplayPaths.of(args.report, args.resume)
    doc = _config_document(args)
    demo_section = doc.pop("demo", None)  # the simulated endpoints', not the sidecar's
    started = _now()
    source = _source(args)
    record_path = args.record / "answers.jsonl" if args.record is not None else None
    simulated = (await _simulated_endpoints(demo_section)
                 if args.simulate and source.record is None else [])
    try:
        urls = (simulated[0].base_url, simulated[1].base_url) if simulated else None
        config = _config(doc, args, urls)
        tax = offline_tax_config(config, sorted(source.categories))
        # a rescored record compares what was recorded
        arms = source.recorded_arms or {
            arm: {"base_url": c.base_url, "model": c.model}
            for arm, c in (("guarded", config.shadow.guarded),
                           ("unguarded", config.shadow.unguarded))
        }
        header = {"version": LOG_VERSION, "prompts": source.digest, "n": source.n,
                  "source": source.name, "categories": sorted(tax.categories), "arms": arms}
        if args.fresh:
            for stale in (paths.resume, record_path):
                if stale is not None and stale.exists():
                    stale.unlink()
        log = JsonlLog(paths.resume, header)
        record = JsonlLog(record_path, header) if record_path is not None else None
        # A rerun retries what did not finish: prompts without a line, and those that failed or
        # were not judged (an endpoint or judge outage); a recorded failure stays one.
        final = {"scored", "failed"} if source.record is not None else {"scored"}
        done = {i for i, status in log.status.items() if status in final}
        options = _options(args, config)
        progress = Progress(source.n, len(done), mode=args.progress)
        retries = 0
        try:
            if len(done) < source.n:
                retries = await _send_or_judge(config, source, log, record, done, options,
                                               progress)
        finally:
            log.close()
            if record is not None:
                record.close()
    finally:
        for ep in simulated:
            await ep.aclose()
    run = {
        "prompts_source": source.name, "prompts_digest": source.digest,
        "from_record": source.record is not None, "arms": arms,
        "concurrency": options.concurrency, "rate_per_s": options.rate_per_s,
        "started": started, "finished": _now(), "retries": retries,
        "show_text": bool(args.show_text),
    }
    answers = source.record or record_path
    texts = answers if args.show_text else None
    report = report_of(config, tax, log, source.n, run, texts, labels=labels)
    write_report(report, paths)
    _export_audit(args.export_audit, config, answers)
    return _summary(report, source.n, len(log.status), paths)


def _export_audit(out: Path | None, config: Config, answers: Path | None) -> None:
    if out is None or answers is None:
        return
    from taxmeter.replay.output import export_audit_sample

    written = export_audit_sample(config, answers, out)
    print(f"taxmeter replay: audit sample of {written} pairs written to {out} (mode 0600; "
          "production data: label it, rerun with --labels, then delete it)", file=sys.stderr)


def _summary(report: dict[str, Any], n: int, logged: int, paths: Any) -> int:
    """Print what the run did; its exit code."""
    counts = report["counts"]
    missing = n - logged
    print(f"taxmeter replay: {counts['scored']} of {n} prompts scored, "
          f"{counts['failed']} failed, {counts['shed']} not judged"
          + (f", {missing} not replayed" if missing else ""))
    print(f"  report: {paths.html}  ({paths.json.name}, {paths.md.name})")
    audit = report["audit"]
    if audit["labels"] is not None:
        t = audit["labels"]
        print(f"  labels: {t['imported']} used, {t['unknown_pair']} for no scored pair, "
              f"{t['invalid']} invalid ({audit['labels_source']})")
    overall = report["overall"]["audit"]
    if overall is not None:
        print(f"  audited pairs: {overall['audited']}"
              + ("" if overall["available"] else
                 f" (corrected figures need {overall['min_audited']})"))
    return 0 if counts["scored"] == n else 1


def _recorded_pairs(
    record: Path, done: set[int], log: Any, advance: Callable[[], None]
) -> Iterator[ShadowPair]:
    """The record's pairs still to judge, streamed; its failures go to the log as they are."""
    from taxmeter.replay.offline import pair_of
    from taxmeter.replay.store import iter_log

    for entry in iter_log(record):
        if entry.get("kind") == "header" or int(entry["i"]) in done:
            continue
        if entry.get("status") == "scored":
            yield pair_of(entry)
        else:
            log.append({k: v for k, v in entry.items() if k != "prompt"})
            advance()


class _Unused:
    """The endpoints of a ``--from-record`` run: never called."""

    async def complete(self, request: Any) -> Any:  # pragma: no cover - never called
        raise AssertionError("--from-record calls no endpoint")

    async def aclose(self) -> None:
        return None
