"""``taxmeter judges import HF_DIR DEST [options]``: the command line of ``hf_import``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from taxmeter.errors import JudgeLoadError
from taxmeter.judgetools.hf_checkpoint import CheckpointError
from taxmeter.judgetools.hf_import import ImportOptions, default_name, import_checkpoint

__all__ = ["register", "run_import"]


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``import`` to the ``taxmeter judges`` sub-command group."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "import",
        help="turn a local Hugging Face sequence classifier into a judge (no torch)",
        description="Import HF_DIR (config.json, model.safetensors or a sharded "
        "model.safetensors.index.json, tokenizer.json) as the judge DEST/NAME: "
        "model.onnx, model.fp16.onnx, tokenizer.json, manifest.yaml, "
        "import_report.json. Supported: BertForSequenceClassification, "
        "RobertaForSequenceClassification (DistilRoBERTa), "
        "XLMRobertaForSequenceClassification, DistilBertForSequenceClassification. "
        "Nothing is downloaded: fetch the checkpoint yourself first.",
        epilog="example: taxmeter judges import ./distilroberta-rejection ./judges "
        "--name refusal-roberta --head refusal=REJECTION --threshold refusal=0.5",
    )
    parser.add_argument("hf_dir", type=Path, metavar="HF_DIR", help="the checkpoint folder")
    parser.add_argument(
        "dest",
        type=Path,
        metavar="DEST",
        help="the judge repository folder; the judge goes to DEST/NAME",
    )
    parser.add_argument("--name", help="judge name (default: HF_DIR's folder name)")
    parser.add_argument(
        "--head",
        action="append",
        default=[],
        metavar="NAME=LABEL",
        help="head NAME scores the probability of LABEL (an id2label name or "
        "index); repeatable. Heads named refusal/unsafe/quality get that "
        "role. Default: a label named like refusal/rejection (or "
        "unsafe/toxic) becomes that head",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="decision threshold of head NAME (default 0.5); repeatable",
    )
    parser.add_argument(
        "--input",
        dest="input_kind",
        choices=("response", "pair"),
        default="response",
        help="what the model reads: the response alone (default) or the "
        "(prompt, response) text pair",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="tokens per input (default: min(512, the model's positions, "
        "tokenizer_config.json model_max_length))",
    )
    parser.add_argument(
        "--no-fp16", dest="fp16", action="store_false", help="do not write the fp16 variant"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing DEST/NAME")
    parser.add_argument(
        "--expect",
        type=Path,
        default=None,
        metavar="FILE.jsonl",
        help='lines {"response": ..., "prompt": ... (optional), '
        '"logits": [...]} with the logits the original model gave '
        "(computed where transformers is installed): the import fails "
        "unless the new graph reproduces them",
    )
    parser.add_argument(
        "--expect-tolerance",
        type=float,
        default=1e-3,
        metavar="ABS",
        help="largest |logit difference| --expect accepts (default 1e-3)",
    )
    parser.set_defaults(func=run_import)
    return parser


def _pairs(judge: str, values: Sequence[str], option: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or not key or not value:
            raise CheckpointError(judge, f"{option} {v!r} must look like NAME=VALUE")
        out.append((key.strip(), value.strip()))
    return out


def run_import(args: argparse.Namespace) -> int:
    name = args.name or default_name(args.hf_dir)
    try:
        thresholds: dict[str, float] = {}
        for key, value in _pairs(name, args.threshold, "--threshold"):
            try:
                thresholds[key] = float(value)
            except ValueError as exc:
                raise CheckpointError(name, f"--threshold {key}={value}: not a number") from exc
        options = ImportOptions(
            name=name,
            heads=_pairs(name, args.head, "--head"),
            thresholds=thresholds,
            input_kind=args.input_kind,
            max_length=args.max_length,
            fp16=args.fp16,
            force=args.force,
            expect=args.expect,
            expect_tolerance=args.expect_tolerance,
        )
        report = import_checkpoint(args.hf_dir, args.dest, options)
    except JudgeLoadError as exc:
        print(f"taxmeter judges import: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.summary_lines()))
    return 0
