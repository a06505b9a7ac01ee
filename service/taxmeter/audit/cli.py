"""``taxmeter audit export|import``: the people's side of the audit (``audit/people.py``).

    taxmeter audit export --socket PATH -o items.jsonl [--max-items N]
    taxmeter audit import --socket PATH labelled.jsonl

Run them where the sidecar's socket is (``kubectl exec`` into its container). The export file
holds production prompts and answers: it is created with owner-only permissions (0600), never
overwritten, and should be deleted once labelled. Exit codes: 0 done, 1 some label lines were
rejected (unknown pair id or invalid label), 2 the socket or a file could not be used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

MAX_LINE = 4 * 1024 * 1024


def register(subparsers: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "audit",
        help="export pending audit items for people, import their labels",
        description="Move audit items to people and their labels back (audit.people).",
    )
    sub = p.add_subparsers(dest="audit_command", required=True)
    e = sub.add_parser("export", help="write pending audit items to a new 0600 file")
    e.add_argument("--socket", type=Path, required=True, help="audit.people.socket_path")
    e.add_argument("-o", "--output", type=Path, required=True, help="new JSONL file")
    e.add_argument("--max-items", type=int, default=200, help="at most this many (oldest)")
    e.set_defaults(func=run_export)
    i = sub.add_parser("import", help="send labelled items back by pair id")
    i.add_argument("--socket", type=Path, required=True, help="audit.people.socket_path")
    i.add_argument("file", type=Path, help="the exported JSONL with labels filled in")
    i.set_defaults(func=run_import)
    return p


def run_export(args: argparse.Namespace) -> int:
    if args.max_items < 1:
        print("taxmeter audit export: --max-items must be at least 1", file=sys.stderr)
        return 2
    try:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        print(
            f"taxmeter audit export: cannot create {args.output}: {exc.strerror}", file=sys.stderr
        )
        return 2
    try:
        lines = asyncio.run(
            _request(args.socket, {"op": "export", "max_items": args.max_items}, [])
        )
    except OSError as exc:
        os.close(fd)
        args.output.unlink()
        print(
            f"taxmeter audit export: cannot reach {args.socket}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for line in lines[:-1]:
            out.write(line + "\n")
    done = json.loads(lines[-1]).get("done", 0) if lines else 0
    print(
        f"taxmeter audit export: {done} items written to {args.output} (mode 0600). It holds "
        "production prompts and answers: fill in each 'label', import it, then delete it.",
        file=sys.stderr,
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    try:
        body = args.file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        print(f"taxmeter audit import: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        lines = asyncio.run(_request(args.socket, {"op": "import"}, [x for x in body if x.strip()]))
    except OSError as exc:
        print(
            f"taxmeter audit import: cannot reach {args.socket}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    result = json.loads(lines[-1]) if lines else {}
    print(f"taxmeter audit import: {json.dumps(result)}", file=sys.stderr)
    rejected = int(result.get("unknown_pair", 0)) + int(result.get("invalid", 0))
    return 1 if rejected or "error" in result else 0


async def _request(socket: Path, head: dict[str, Any], body: list[str]) -> list[str]:
    reader, writer = await asyncio.open_unix_connection(str(socket), limit=MAX_LINE)
    try:
        writer.write(json.dumps(head).encode() + b"\n")
        for line in body:
            writer.write(line.encode() + b"\n")
        await writer.drain()
        writer.write_eof()
        out = []
        while line_bytes := await reader.readline():
            out.append(line_bytes.decode().rstrip("\n"))
        return out
    finally:
        writer.close()
