"""One ``taxmeter replay`` run, from parsed arguments to its exit code: set up (see
:mod:`taxmeter.replay.inputs`), replay what the resume log does not have (or judge a record
again), write the report, export the audit sample, print the summary.

Like :mod:`taxmeter.replay.command`, it imports the rest of the package only when called.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taxmeter.replay.inputs import (
    Source,
    build_config,
    check_args,
    config_document,
    options_of,
    simulated_endpoints,
    source_of,
)

if TYPE_CHECKING:
    from taxmeter.config import Config
    from taxmeter.replay.progress import Progress
    from taxmeter.replay.runner import ReplayOptions
    from taxmeter.replay.store import JsonlLog
    from taxmeter.types import ShadowPair


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _send_or_judge(
    config: Config,
    source: Source,
    log: JsonlLog,
    record: JsonlLog | None,
    done: set[int],
    options: ReplayOptions,
    progress: Progress,
) -> int:
    """Replay what is not done (or judge the record again); returns the retries made."""
    from prometheus_client import CollectorRegistry

    from taxmeter.replay.offline import compose_audited
    from taxmeter.replay.runner import ReplayRunner
    from taxmeter.shadow.endpoint import build_endpoints

    engine, sink, audit = compose_audited(
        config, log, record, CollectorRegistry(auto_describe=True)
    )
    endpoints: tuple[Any, Any] | None = None
    try:
        await engine.start()
        await engine.wait_ready()
        if source.record is not None:
            runner = ReplayRunner(
                _Unused(), _Unused(), sink, log, options, on_done=progress.advance
            )
            await runner.judge_only(_recorded_pairs(source.record, done, log, progress.advance))
        else:
            endpoints = build_endpoints(config.shadow, os.environ)
            runner = ReplayRunner(
                endpoints[0],
                endpoints[1],
                sink,
                log,
                options,
                record=record,
                on_done=progress.advance,
            )
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

    check_args(args)
    labels = LabelSet.load(args.labels) if args.labels is not None else None
    paths = ReplayPaths.of(args.report, args.resume)
    doc = config_document(args)
    demo_section = doc.pop("demo", None)  # the simulated endpoints', not the sidecar's
    started = _now()
    source = source_of(args)
    record_path = args.record / "answers.jsonl" if args.record is not None else None
    simulated = (
        await simulated_endpoints(demo_section) if args.simulate and source.record is None else []
    )
    try:
        urls = (simulated[0].base_url, simulated[1].base_url) if simulated else None
        config = build_config(doc, args, urls)
        tax = offline_tax_config(config, sorted(source.categories))
        # a rescored record compares what was recorded
        arms = source.recorded_arms or {
            arm: {"base_url": c.base_url, "model": c.model}
            for arm, c in (
                ("guarded", config.shadow.guarded),
                ("unguarded", config.shadow.unguarded),
            )
        }
        header = {
            "version": LOG_VERSION,
            "prompts": source.digest,
            "n": source.n,
            "source": source.name,
            "categories": sorted(tax.categories),
            "arms": arms,
        }
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
        options = options_of(args, config)
        progress = Progress(source.n, len(done), mode=args.progress)
        retries = 0
        try:
            if len(done) < source.n:
                retries = await _send_or_judge(config, source, log, record, done, options, progress)
        finally:
            log.close()
            if record is not None:
                record.close()
    finally:
        for ep in simulated:
            await ep.aclose()
    run = {
        "prompts_source": source.name,
        "prompts_digest": source.digest,
        "from_record": source.record is not None,
        "arms": arms,
        "concurrency": options.concurrency,
        "rate_per_s": options.rate_per_s,
        "started": started,
        "finished": _now(),
        "retries": retries,
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
    print(
        f"taxmeter replay: audit sample of {written} pairs written to {out} (mode 0600; "
        "production data: label it, rerun with --labels, then delete it)",
        file=sys.stderr,
    )


def _summary(report: dict[str, Any], n: int, logged: int, paths: Any) -> int:
    """Print what the run did; its exit code."""
    counts = report["counts"]
    missing = n - logged
    print(
        f"taxmeter replay: {counts['scored']} of {n} prompts scored, "
        f"{counts['failed']} failed, {counts['shed']} not judged"
        + (f", {missing} not replayed" if missing else "")
    )
    print(f"  report: {paths.html}  ({paths.json.name}, {paths.md.name})")
    audit = report["audit"]
    if audit["labels"] is not None:
        t = audit["labels"]
        print(
            f"  labels: {t['imported']} used, {t['unknown_pair']} for no scored pair, "
            f"{t['invalid']} invalid ({audit['labels_source']})"
        )
    overall = report["overall"]["audit"]
    if overall is not None:
        print(
            f"  audited pairs: {overall['audited']}"
            + (
                ""
                if overall["available"]
                else f" (corrected figures need {overall['min_audited']})"
            )
        )
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
