"""What a ``taxmeter replay`` run starts from: its arguments checked together, the
configuration document (``--config``, over the demo's defaults with ``--simulate``), the
``Config`` with the arms' URLs and ``--judges`` applied, the prompt source (a prompt list or a
record to judge again), the runner's options, and the simulated endpoints of ``--simulate``.

Like :mod:`taxmeter.replay.command`, it imports the rest of the package only when called.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taxmeter.errors import ConfigError

if TYPE_CHECKING:
    from taxmeter.config import Config
    from taxmeter.replay.prompts import PromptItem
    from taxmeter.replay.runner import ReplayOptions


def check_args(args: argparse.Namespace) -> None:
    if args.from_record is not None and args.prompts:
        raise ConfigError("PROMPTS", "give either PROMPTS or --from-record, not both")
    if args.from_record is None and not args.prompts:
        raise ConfigError("PROMPTS", "a prompt file (or builtin:demo) or --from-record is needed")
    if args.show_text and args.record is None and args.from_record is None:
        raise ConfigError(
            "show_text",
            "--show-text needs --record DIR or --from-record DIR (answers are kept only there)",
        )
    if args.export_audit is not None and args.record is None and args.from_record is None:
        raise ConfigError(
            "export_audit",
            "--export-audit needs --record DIR or --from-record DIR (answers are kept only there)",
        )
    if args.export_audit is not None and args.export_audit.exists():
        raise ConfigError("export_audit", f"{args.export_audit} exists (never overwritten)")


def config_document(args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    doc: dict[str, Any] = {}
    if args.simulate:
        from taxmeter.demo.run import default_document

        doc = default_document()
    if args.config:
        try:
            text = Path(args.config).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                "", f"cannot read config file {args.config}: {exc.strerror}"
            ) from None
        try:
            user = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f" (line {where.line + 1})" if where is not None else ""
            raise ConfigError("", f"{args.config} is not valid YAML{at}") from None
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


def build_config(
    doc: dict[str, Any], args: argparse.Namespace, urls: tuple[str, str] | None
) -> Config:
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

        print(
            "taxmeter replay: preparing the default judges (first run builds them)...",
            file=sys.stderr,
        )
        judges["repository"] = str(ensure_default_repository())
    doc["judges"] = judges
    return config_from_dict(doc, os.environ)


@dataclass(frozen=True, slots=True)
class Source:
    """What a run replays: a prompt list, or a record to judge again."""

    items: list[PromptItem]
    digest: str
    n: int
    name: str
    categories: set[str]
    record: Path | None  # --from-record's answers.jsonl
    recorded_arms: dict[str, Any] | None


def source_of(args: argparse.Namespace) -> Source:
    from taxmeter.replay.prompts import load_prompts, prompts_digest
    from taxmeter.replay.store import read_header

    if args.from_record is not None:
        path = args.from_record / "answers.jsonl"
        h = read_header(path)
        return Source(
            [],
            h["prompts"],
            int(h["n"]),
            str(h.get("source", "")),
            set(h.get("categories") or []),
            path,
            h.get("arms"),
        )
    items = load_prompts(args.prompts, default_route=args.default_route)
    return Source(
        items,
        prompts_digest(items),
        len(items),
        str(args.prompts),
        {it.category for it in items if it.category},
        None,
        None,
    )


async def simulated_endpoints(demo_section: Any) -> list[Any]:
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
    endpoints = [
        SimulatedEndpoint(persona, demo.routes, demo.seed, latency_scale=demo.latency_scale)
        for persona in ("guarded", "unguarded")
    ]
    for ep in endpoints:
        await ep.start()
    return endpoints


def options_of(args: argparse.Namespace, config: Config) -> ReplayOptions:
    from taxmeter.replay.runner import ReplayOptions

    return ReplayOptions(
        concurrency=args.concurrency or config.shadow.concurrency,
        rate_per_s=args.rate,
        retries=args.retries,
        noise_floor_rate=(
            config.shadow.noise_floor_rate
            if args.noise_floor_rate is None
            else args.noise_floor_rate
        ),
        # pairs being judged at once: enough to fill batches, never enough to fill the judges'
        # queue (a full queue sheds)
        judge_tasks=max(
            1, min(max(2 * config.judges.max_batch_size, 8), config.judges.queue_size // 3)
        ),
    )
