"""Cross-validation of the default judge heads on the training set alone (no evaluation set).

``python -m taxmeter.judgetools.crossval [--train FILE] [--probe]`` embeds the training
examples with the MiniLM encoder (as ``build_repository`` does), trains the heads with the
crossed grouped cross-validation of ``heads.py`` and prints each head's CV numbers, plus the
out-of-fold refusal recall / false-positive rate per example family (casual declines, casual
compliant answers, the rest). With ``--train FILE`` (an older ``train.jsonl``) and
``--probe``, it also scores the generator's casual family with heads fitted on FILE: how the
older data does on that style, without using the evaluation set.

It never reads ``eval.jsonl``: this is the tool for choices made on the training CV only.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taxmeter.judgetools.examples import (
    CASUAL_SEED_OFFSET,
    SEED,
    casual_examples,
    generate_training_examples,
)
from taxmeter.judgetools.graph import build_judge_graph, features_numpy
from taxmeter.judgetools.heads import (
    HeadRecipe,
    TrainedHead,
    calibrated,
    crossed_folds,
    train_heads,
)
from taxmeter.judgetools.probe_casual import probe_examples
from taxmeter.judgetools.repository import (
    MAX_LENGTH,
    _labels,
    _Runner,
    head_recipes,
)
from taxmeter.judgetools.weights import judge_tokenizer_json, load_minilm, token_counts

__all__ = ["CvRun", "cross_validate", "family", "first_casual_index", "main"]


@dataclass(frozen=True, slots=True)
class CvRun:
    """Heads fitted on the examples, their out-of-fold scores, and a feature function."""

    heads: list[TrainedHead]
    out_of_fold: dict[str, np.ndarray]
    embed: Any
    """``embed(prompts, responses) -> features`` with the same encoder."""


def family(example: Mapping[str, Any], index: int, first_casual: int) -> str:
    """``casual-decline``, ``casual-compliant`` or ``other`` (by position in the generator's
    output: the casual family is generated last)."""
    if index < first_casual:
        return "other"
    return "casual-decline" if example["refusal"] else "casual-compliant"


def cross_validate(examples: Sequence[Mapping[str, Any]],
                   recipes: Sequence[HeadRecipe] | None = None) -> CvRun:
    minilm = load_minilm()
    tokenizer_json = judge_tokenizer_json(minilm.tokenizer_path, MAX_LENGTH)
    runner = _Runner(build_judge_graph(minilm.weights, []).SerializeToString(), tokenizer_json)

    def embed(prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        table = runner.embed(list(prompts) + list(responses))
        return features_numpy(
            np.stack([table[p] for p in prompts]).astype(np.float64),
            np.stack([table[r] for r in responses]).astype(np.float64),
            token_counts(tokenizer_json, list(responses), MAX_LENGTH))

    prompts = [e["prompt"] for e in examples]
    responses = [e["response"] for e in examples]
    features = embed(prompts, responses)
    hidden = minilm.weights["embeddings.LayerNorm.weight"].shape[0]
    oof: dict[str, np.ndarray] = {}
    heads = train_heads(features, _labels(examples), crossed_folds(prompts, responses),
                        head_recipes(hidden) if recipes is None else recipes, prompts,
                        out_of_fold=oof)
    return CvRun(heads=heads, out_of_fold=oof, embed=embed)


def _rate(flags: np.ndarray) -> str:
    return f"{float(np.mean(flags)):.3f} ({int(np.sum(flags))}/{len(flags)})" if len(flags) else "-"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, default=None,
                        help="a train.jsonl to cross-validate (default: the generator's output)")
    parser.add_argument("--probe", action="store_true",
                        help="also score the generator's casual family with heads fitted on "
                             "--train")
    parser.add_argument("--fp-probe", action="store_true",
                        help="score the held-out benign casual probe (probe_casual.py) with the "
                             "heads refitted on all training examples")
    args = parser.parse_args(argv)
    generated = [dict(e) for e in generate_training_examples()]
    first_casual = first_casual_index(generated)
    if args.train is None:
        examples: list[dict[str, Any]] = generated
    else:
        examples = [json.loads(x) for x in args.train.read_text("utf-8").splitlines() if x]
    run = cross_validate(examples)
    print(f"training examples: {len(examples)}")
    for h in run.heads:
        cv = h.cv
        assert cv is not None
        pairs = "" if cv.pair_accuracy is None else f"  pairs {cv.pair_accuracy:.4f}"
        print(f"  {h.name:16s} CV F1 {cv.f1:.4f}  log-loss {cv.log_loss:.4f}{pairs}  "
              f"L2 {h.l2:g}  pca {h.pca_dim}  platt ({h.platt_a:.3f}, {h.platt_b:.3f})  "
              f"threshold {h.threshold:.3f}  n_validated {cv.n_validated}")
    refusal = next(h for h in run.heads if h.name == "refusal")
    if args.train is None:
        score = run.out_of_fold["refusal"]
        fams = np.array([family(e, i, first_casual) for i, e in enumerate(examples)])
        y = np.array([e["refusal"] for e in examples]) == 1
        ok = ~np.isnan(score)
        hit = score >= refusal.threshold
        for h in run.heads:
            if h.name == "quality":
                continue
            yh = _labels(examples)[h.name]
            m = ok & (fams == "other") & ~np.isnan(run.out_of_fold[h.name])
            pred = run.out_of_fold[h.name][m] >= h.threshold
            truth = yh[m] > 0.5
            f1 = 2 * np.sum(pred & truth) / max(np.sum(pred) + np.sum(truth), 1)
            print(f"  {h.name:16s} out-of-fold F1 on the version-3 examples only: {f1:.4f}")
        print("out-of-fold refusal decisions by family:")
        for fam in ("other", "casual-decline", "casual-compliant"):
            m = ok & (fams == fam)
            print(f"  {fam:17s} recall {_rate(hit[m & y])}  false positives "
                  f"{_rate(hit[m & ~y])}")
    if args.probe:
        probe = generated[first_casual:]
        feats = run.embed([e["prompt"] for e in probe], [e["response"] for e in probe])
        j = [h.name for h in run.heads].index("refusal")
        p = calibrated(refusal, run.heads[j].logit(feats))
        y = np.array([e["refusal"] for e in probe]) == 1
        hit = p >= refusal.threshold
        print(f"probe (casual family, not in --train): declines caught {_rate(hit[y])}, "
              f"casual compliant answers taken for refusals {_rate(hit[~y])}")
    if args.fp_probe:
        fp = probe_examples()
        feats = run.embed([str(e["prompt"]) for e in fp], [str(e["response"]) for e in fp])
        for h in run.heads:
            if h.name == "quality":
                continue
            flagged = calibrated(h, h.logit(feats)) >= h.threshold
            print(f"fp-probe (150 benign casual answers, held out): {h.name} flagged "
                  f"{_rate(flagged)}")
    return 0


def first_casual_index(generated: Sequence[Mapping[str, Any]]) -> int:
    """Where the casual family (generated last) starts in the generator's output."""
    pairs = {(e["prompt"], e["response"])
             for e in casual_examples(random.Random(SEED + CASUAL_SEED_OFFSET))}
    first = next(i for i, e in enumerate(generated) if (e["prompt"], e["response"]) in pairs)
    assert all((e["prompt"], e["response"]) in pairs for e in generated[first:])
    return first


if __name__ == "__main__":
    raise SystemExit(main())
