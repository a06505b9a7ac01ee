"""What a replay writes: the three report files (HTML, JSON, Markdown) beside each other, and
the report itself, built from the run's log alone."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taxmeter.config import Config
    from taxmeter.replay.labels import LabelSet
    from taxmeter.replay.store import JsonlLog
    from taxmeter.tax.config import TaxConfig


@dataclass(frozen=True, slots=True)
class ReplayPaths:
    html: Path
    json: Path
    md: Path
    resume: Path

    @classmethod
    def of(cls, report: Path, resume: Path | None) -> ReplayPaths:
        stem = report.with_suffix("") if report.suffix.lower() in (".html", ".htm") else report
        return cls(
            html=stem.with_name(stem.name + ".html"),
            json=stem.with_name(stem.name + ".json"),
            md=stem.with_name(stem.name + ".md"),
            resume=resume or stem.with_name(stem.name + ".resume.jsonl"),
        )


def audit_mode(config: Config, labels: LabelSet | None) -> str:
    """Where the report's reference labels come from: ``labels`` (a ``--labels`` file, and the
    LLM auditor's where the file has none), ``auditor`` (``audit.auditor`` enabled), ``none``."""
    if labels is not None:
        return "labels"
    audit = config.audit
    return "auditor" if audit.enabled and audit.auditor is not None else "none"


def report_of(
    config: Config,
    tax: TaxConfig,
    log: JsonlLog,
    n: int,
    run: dict[str, Any],
    texts: Path | None,
    *,
    labels: LabelSet | None = None,
) -> dict[str, Any]:
    """The report of a finished (or partly finished) run, from its log (and labels) alone."""
    from taxmeter.replay.gallery import largest_disagreements
    from taxmeter.replay.offline import aggregate
    from taxmeter.replay.report import build_report, judge_info

    mode = audit_mode(config, labels)
    min_audited = config.audit.min_pairs_for_corrected if mode != "none" else None
    statuses = Counter(log.status.values())
    with log.reading() as entries:
        failed_by_reason = Counter(
            str(entries[i].get("reason")) for i, st in log.status.items() if st != "scored"
        )
        aggregator = aggregate(tax, entries, audit_min_pairs=min_audited, labels=labels)
        gallery = (
            largest_disagreements(
                entries, texts, tax.quality_heads[0], tax.refusal_head, tax.unsafe_head
            )
            if texts is not None
            else None
        )
    selected = None
    if mode == "auditor":  # the auditor's sample among the scored pairs (request id = index)
        from taxmeter.audit.stage import in_audit_sample

        audit = config.audit
        selected = sum(
            1
            for i, st in log.status.items()
            if st == "scored" and in_audit_sample(str(i), audit.salt, audit.rate)
        )
    engine_heads = [*tax.quality_heads, tax.refusal_head, tax.unsafe_head]
    judge_names = sorted({h.split(".", 1)[0] for h in engine_heads})
    return build_report(
        aggregator,
        counts={
            "prompts": n,
            "scored": statuses.get("scored", 0),
            "failed": statuses.get("failed", 0),
            "shed": statuses.get("shed", 0),
            "failed_by_reason": dict(sorted(failed_by_reason.items())),
        },
        run=run,
        judges=judge_info(
            Path(config.judges.repository),
            judge_names,
            [h.key for h in _heads_of(config)] or engine_heads,
        ),
        gallery=gallery,
        audit={
            "mode": mode,
            "labels_source": labels.source if labels is not None else None,
            "labels": labels.tally() if labels is not None else None,
            "sample_rate": config.audit.rate if mode == "auditor" else None,
            "selected": selected,
        },
    )


def export_audit_sample(config: Config, answers: Path, out: Path) -> int:
    """Write the audit sample's scored pairs of a record (``audit.rate`` and ``audit.salt``,
    the sidecar's hash of the pair id) to a new owner-only file, in ``taxmeter audit export``'s
    format with the prompt index as pair id; returns how many. Never overwrites a file."""
    import os
    import time

    from taxmeter.audit.people import PendingItem, export_record
    from taxmeter.audit.stage import in_audit_sample
    from taxmeter.errors import ConfigError
    from taxmeter.replay.offline import scored_of
    from taxmeter.replay.store import iter_log

    audit = config.audit
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError("export_audit", f"cannot create {out}: {exc.strerror}") from None
    written = 0
    now = time.time()
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for entry in iter_log(answers):
            if entry.get("kind") == "header" or entry.get("status") != "scored":
                continue
            pair_id = str(entry["i"])
            if not in_audit_sample(pair_id, audit.salt, audit.rate):
                continue
            item = PendingItem(pair_id, now, 0.0, scored_of(entry))
            f.write(json.dumps(export_record(item), ensure_ascii=False) + "\n")
            written += 1
    return written


@dataclass(frozen=True, slots=True)
class _Head:
    key: str


def _heads_of(config: Config) -> list[_Head]:
    """Every head of every judge in the repository (from the manifests, nothing loaded)."""
    import yaml

    out = []
    repo = Path(config.judges.repository)
    with contextlib.suppress(OSError):
        for folder in sorted(repo.iterdir()):
            manifest = folder / "manifest.yaml"
            if not manifest.is_file():
                continue
            with contextlib.suppress(OSError, yaml.YAMLError):
                doc = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
                for h in doc.get("heads") or []:
                    if isinstance(h, dict) and "name" in h:
                        out.append(_Head(f"{folder.name}.{h['name']}"))
    return out


def write_report(report: dict[str, Any], paths: ReplayPaths) -> None:
    from taxmeter.replay.render import render_html, render_markdown

    paths.html.parent.mkdir(parents=True, exist_ok=True)
    for path, text in (
        (paths.json, json.dumps(report, indent=2, ensure_ascii=False) + "\n"),
        (paths.md, render_markdown(report)),
        (paths.html, render_html(report)),
    ):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
