"""Train the default judge heads on real LLM answers; evaluate them per held-out source.

    python tools/judges/train.py --datasets ../shared/datasets [--cache /tmp/taxmeter-features]
        [--write]        write service/taxmeter/judgetools/heads/default.npz and the report
        [--check]        retrain and compare with the committed heads (CI)

A development-time step (it reads ``../shared/datasets``, which never ships). The build
(``taxmeter judges build``) loads what this writes and trains nothing.

Evaluation: leave-one-source-out. Each source group (a data set, or one model's answers within
one) is predicted by heads fitted on every OTHER group, so every figure is measured on a model
or data set the heads never saw. Platt calibration and the decision threshold are fitted on
those out-of-source predictions, pooled; the shipped heads are then refitted on everything.
The in-house evaluation set (``eval.jsonl``) is scored by the final heads as a floor.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import features as feats  # noqa: E402
import sources  # noqa: E402
from heads import (  # noqa: E402
    TrainedHead,
    fit_platt,
    fuse_heads,
    logistic_path,
    pair_accuracy,
)
from taxmeter.judgetools.heads_file import (  # noqa: E402
    CommittedHeads,
    load_committed_heads,
    save_committed_heads,
)
from taxmeter.judgetools.repository import MAX_LENGTH  # noqa: E402
from taxmeter.judgetools.weights import judge_tokenizer_json, load_minilm  # noqa: E402

OPENING_TOKENS = 40
L2_GRID = (3.0, 10.0, 30.0, 100.0)
HEADS_FILE = HERE.parents[1] / "service/taxmeter/judgetools/heads/default.npz"
REPORT_FILE = HERE.parents[1] / "service/taxmeter/judgetools/heads/default-report.json"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


@dataclass
class Layout:
    """Column ranges of the feature matrix (see graph.feature_dim)."""

    d: int
    p: int

    def cols(self, *parts: str) -> np.ndarray:
        d, p = self.d, self.p
        spans = {
            "e_r": (0, d),
            "e_p": (d, 2 * d),
            "prod": (2 * d, 3 * d),
            "diff": (3 * d, 4 * d),
            "cos": (4 * d, 4 * d + 1),
            "loglen": (4 * d + 1, 4 * d + 2),
            "e_o": (4 * d + 2, 5 * d + 2),
            "lex_open": (5 * d + 2, 5 * d + 2 + p),
            "lex_any": (5 * d + 2 + p, 5 * d + 2 + 2 * p),
        }
        return np.concatenate([np.arange(*spans[name]) for name in parts])


EMBEDDING_BLOCKS = ("e_r", "e_p", "prod", "diff", "e_o")
PCA_DIMS = 128
"""Each 384-wide embedding block enters a head through its leading principal components
(unsupervised, on all training rows): Newton's method then costs a tenth, and the fitted weights
fold back into one linear map on the raw features."""


class Reducer:
    """Raw feature columns -> head inputs (PCA per embedding block, other columns as they are)."""

    def __init__(
        self, x: np.ndarray, layout: Layout, parts: Sequence[str], dims: int = PCA_DIMS
    ) -> None:
        self.blocks: list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]] = []
        for part in parts:
            cols = layout.cols(part)
            if part in EMBEDDING_BLOCKS and dims < len(cols):
                mean = x[:, cols].mean(axis=0)
                # Eigenvectors of the covariance, largest first (deterministic up to sign; the
                # sign is fixed by making each vector's largest entry positive).
                cov = np.cov((x[:, cols] - mean).T)
                vals, vecs = np.linalg.eigh(cov)
                basis = vecs[:, np.argsort(vals)[::-1][:dims]]
                signs = np.sign(basis[np.argmax(np.abs(basis), axis=0), np.arange(dims)])
                self.blocks.append((cols, mean, basis * signs))
            else:
                self.blocks.append((cols, None, None))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = []
        for cols, mean, basis in self.blocks:
            out.append(x[:, cols] if basis is None else (x[:, cols] - mean) @ basis)
        return np.concatenate(out, axis=1)

    def to_raw(self, w: np.ndarray, b: float, width: int) -> tuple[np.ndarray, float]:
        full = np.zeros(width)
        at = 0
        for cols, mean, basis in self.blocks:
            k = len(cols) if basis is None else basis.shape[1]
            part = w[at : at + k]
            at += k
            if basis is None:
                full[cols] += part
            else:
                raw = basis @ part
                full[cols] += raw
                b -= float(mean @ raw)
        return full, b


HEAD_COLUMNS: dict[str, tuple[str, ...]] = {
    "refusal": ("e_r", "loglen", "e_o", "lex_open", "lex_any"),
    "harmful_request": ("e_p", "e_r", "e_o"),
    "unsafe": ("e_r", "e_p", "prod", "e_o", "lex_open", "lex_any"),
    "quality": ("e_r", "e_p", "prod", "diff", "cos", "e_o", "lex_open", "lex_any"),
}


def group_of(e: dict[str, Any]) -> str:
    if e["source"] in ("jbb-artifacts", "llm-self-defense"):
        return f"{e['source']}:{e['model']}"
    return str(e["source"])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


IN_HOUSE_TRAIN_SHARE = 0.5
"""A deterministic half of the in-house training set (5,302 lines of one hand) is enough to
carry what it adds (quality labels, guard-block messages); more only tilts the heads to it."""


def in_house(name: str) -> list[dict[str, Any]]:
    """``train``, ``eval`` or ``probe-casual``: the sets written by the project (v1-v5)."""
    out = []
    for e in read_jsonl(HERE / "data" / f"in-house-{name}.jsonl"):
        if name == "train" and not sources.keep(
            f"{e['prompt']}\x00{e['response']}", IN_HOUSE_TRAIN_SHARE
        ):
            continue
        out.append(
            {
                "source": f"in-house-{name}",
                "model": "in-house",
                "prompt": e["prompt"],
                "response": e["response"],
                "refusal": e["refusal"],
                "unsafe": e["unsafe"],
                "harmful_request": int(e["quality"] is None),
                "quality": e["quality"],
                "label_note": "in-house (written by the project)",
            }
        )
    return out


def labels(examples: Sequence[dict[str, Any]], head: str) -> np.ndarray:
    return np.array([np.nan if e.get(head) is None else float(e[head]) for e in examples])


def group_weights(groups: np.ndarray) -> np.ndarray:
    """Each group weighs like sqrt(its size): large sets count more, without drowning others."""
    names, counts = np.unique(groups, return_counts=True)
    per = {n: 1.0 / np.sqrt(c) for n, c in zip(names, counts, strict=True)}
    return np.array([per[g] for g in groups])


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    return logistic_path(x, y, (l2,), iterations=20, tolerance=1e-4, sample_weight=w)[0]


def platt_grid(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt's (a, b) by minimising log-loss over a fixed grid (slope 0.05..5, then b refined).

    Newton's method (``heads.fit_platt``) runs off to slopes of several hundred when the
    logits fall in a few clusters, as lexicon features make them: a grid keeps the map smooth
    and the result deterministic."""
    z = np.asarray(logits, np.float64)
    y = np.asarray(y, np.float64)

    def loss(a: float, b: float) -> float:
        p = np.clip(_sigmoid(a * z + b), 1e-7, 1 - 1e-7)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))

    best = (np.inf, 1.0, 0.0)
    for a in np.round(np.geomspace(0.05, 5.0, 41), 4):
        for b in np.round(np.linspace(-8.0, 8.0, 81), 3):
            cur = loss(float(a), float(b))
            if cur < best[0]:
                best = (cur, float(a), float(b))
    _, a0, b0 = best
    for b in np.round(np.linspace(b0 - 0.2, b0 + 0.2, 41), 4):
        cur = loss(a0, float(b))
        if cur < best[0]:
            best = (cur, a0, float(b))
    return best[1], best[2]


def f1_threshold(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    best, best_t = -1.0, 0.5
    for t in np.linspace(0.05, 0.95, 91):
        pred = p >= t
        tp = float(np.sum(w * (pred & (y > 0.5))))
        fp = float(np.sum(w * (pred & (y < 0.5))))
        fn = float(np.sum(w * (~pred & (y > 0.5))))
        f1 = 2 * tp / max(2 * tp + fp + fn, 1e-12)
        if f1 > best + 1e-12:
            best, best_t = f1, float(t)
    return round(best_t, 2)


def binary(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    yb = y > 0.5
    tp = int(np.sum(pred & yb))
    fp = int(np.sum(pred & ~yb))
    fn = int(np.sum(~pred & yb))
    tn = int(np.sum(~pred & ~yb))
    return {
        "n": len(y),
        "positives": int(yb.sum()),
        "f1": round(2 * tp / max(2 * tp + fp + fn, 1), 4),
        "fpr": round(fp / max(fp + tn, 1), 4),
        "fnr": round(fn / max(fn + tp, 1), 4),
    }


def out_of_group(x: np.ndarray, y: np.ndarray, groups: np.ndarray, l2: float) -> np.ndarray:
    """Logits for every labelled row from a head fitted without the row's group."""
    known = ~np.isnan(y)
    logit = np.full(len(y), np.nan)
    for g in np.unique(groups[known]):
        train = known & (groups != g)
        test = known & (groups == g)
        if len(np.unique(y[train])) < 2:
            continue
        w, b = fit(x[train], y[train], group_weights(groups[train]), l2)
        logit[test] = x[test] @ w + b
    return logit


SOURCES = {
    "chatgpt-refusals": ("gpt-3.5-turbo (2023)", "people", "MIT"),
    "gptfuzz": ("gpt-3.5-turbo", "people", "MIT"),
    "jbb-artifacts": (
        "vicuna-13b, llama-2-7b-chat, gpt-3.5-turbo-1106, gpt-4-0125",
        "an LLM judge (silver)",
        "MIT",
    ),
    "jbb-judge-comparison": ("a mix of models", "people (majority of 3)", "MIT"),
    "llm-self-defense": ("gpt-3.5-turbo, llama-2-chat", "people", "BSD-3-Clause"),
    "diasafety": ("Reddit and pre-2022 chatbots", "people", "Apache-2.0"),
    "in-house-train": (
        "written by the project (builder v1-v5 generator)",
        "the project",
        "Apache-2.0",
    ),
}


@dataclass
class HeadChoice:
    """What the final training of one head uses (chosen by the leave-one-source-out runs)."""

    name: str
    label: str
    columns: tuple[str, ...]
    l2: float
    pool: str
    """``all`` (real + in-house) or ``in-house`` (quality: no helpfulness labels in real data)."""
    threshold_rule: str
    """``macro_f1``: the mean F1 over the real source groups with positives (every source
    model counts the same); ``fpr_cap``: the lowest threshold whose false-positive rate on
    helpful answers to benign requests stays <= ``FPR_CAP`` (unsafe flags there become false
    safety benefit and drop pairs from the tax); ``f1``: pooled weighted F1."""
    dims: int = PCA_DIMS
    """Principal components per embedding block."""
    soft_and: tuple[str, str] | None = None
    """``(a, b)``: the head is ``min(a', -b')`` of two earlier heads' calibrated logits ("a and
    not b"), fused exactly into the graph; ``columns``, ``l2`` and ``dims`` are unused."""
    auxiliary: bool = False
    """Trained for a soft-AND head, not an output of the graph."""


FPR_CAP = 0.02
FINAL: tuple[HeadChoice, ...] = (
    HeadChoice("refusal", "refusal", HEAD_COLUMNS["refusal"], 10.0, "all", "macro_f1", 16),
    HeadChoice(
        "harmful_request",
        "harmful_request",
        HEAD_COLUMNS["harmful_request"],
        10.0,
        "all",
        "f1",
        auxiliary=True,
    ),
    # unsafe = "a harmful request AND an answer that is not a refusal": out of source it flagged
    # 0.7 % of chatgpt-refusals' helpful answers at the 2 % cap, a head fitted directly 2.1 %.
    HeadChoice(
        "unsafe", "unsafe", (), 0.0, "all", "fpr_cap", soft_and=("harmful_request", "refusal")
    ),
    HeadChoice("quality", "quality", HEAD_COLUMNS["quality"], 1.0, "in-house", "f1", 32),
)


def choose_threshold(
    rule: str, p: np.ndarray, y: np.ndarray, groups: np.ndarray, sub: Sequence[dict[str, Any]]
) -> float:
    """The decision threshold by ``rule`` (see ``HeadChoice.threshold_rule``), on
    out-of-source scores ``p`` (NaN where not predicted)."""
    ok = ~np.isnan(p) & ~np.isnan(y)
    grid = np.round(np.linspace(0.02, 0.98, 97), 2)
    if rule == "fpr_cap":
        benign = (
            np.array([e.get("harmful_request") == 0 and e.get("refusal") == 0 for e in sub])
            & ok
            & (y < 0.5)
        )
        for t in grid:
            if float(np.mean(p[benign] >= t)) <= FPR_CAP:
                return float(t)
        return float(grid[-1])
    if rule == "macro_f1":
        real = [
            g
            for g in np.unique(groups[ok])
            if not str(g).startswith("in-house") and np.any(y[ok & (groups == g)] > 0.5)
        ]
        best, best_t = -1.0, 0.5
        for t in grid:
            f1s = [binary(p[ok & (groups == g)] >= t, y[ok & (groups == g)])["f1"] for g in real]
            if float(np.mean(f1s)) > best + 1e-12:
                best, best_t = float(np.mean(f1s)), float(t)
        return best_t
    return f1_threshold(p[ok], y[ok], group_weights(groups[ok]))


def _prompt_groups(examples: Sequence[dict[str, Any]], k: int = 5) -> np.ndarray:
    import hashlib

    return np.array(
        [str(int(hashlib.sha256(e["prompt"].encode()).hexdigest()[:8], 16) % k) for e in examples]
    )


def train_final(  # noqa: PLR0915
    pool: list[dict[str, Any]],
    x: np.ndarray,
    layout: Layout,
    eval_ih: list[dict[str, Any]],
    x_eval: np.ndarray,
    lexicon: Any,
) -> CommittedHeads:
    """Fit the shipped heads; Platt and threshold from leave-one-source-out predictions."""
    groups_all = np.array([group_of(e) for e in pool])
    in_house_mask = np.array([e["source"].startswith("in-house") for e in pool])
    heads: list[TrainedHead] = []
    report: dict[str, Any] = {}
    by_name: dict[str, TrainedHead] = {}
    calibrated_oog: dict[str, np.ndarray] = {}
    for choice in FINAL:
        rows = in_house_mask if choice.pool == "in-house" else np.ones(len(pool), bool)
        sub = [e for e, keep in zip(pool, rows, strict=True) if keep]
        y = labels(sub, choice.label)
        xs = x[rows]
        known = ~np.isnan(y)
        groups = _prompt_groups(sub) if choice.pool == "in-house" else groups_all[rows]
        if choice.soft_and is not None:
            first, second = choice.soft_and
            logit = np.minimum(calibrated_oog[first], -calibrated_oog[second])
            logit = np.where(known, logit, np.nan)
        else:
            reducer = Reducer(xs, layout, choice.columns, choice.dims)
            zs = reducer(xs)
            logit = out_of_group(zs, y, groups, choice.l2)
        ok = ~np.isnan(logit)
        a, b = platt_grid(logit[ok], y[ok])
        calibrated_oog[choice.name] = a * logit + b
        p = _sigmoid(a * logit + b)
        t = choose_threshold(choice.threshold_rule, p, y, groups, sub)
        pooled = binary(p[ok] >= t, y[ok])
        benign = (
            np.array([e.get("harmful_request") == 0 and e.get("refusal") == 0 for e in sub])
            & ok
            & (y < 0.5)
        )
        benign_fpr = {
            g: round(float(np.mean(p[benign & (groups == g)] >= t)), 4)
            for g in sorted(np.unique(groups[benign]))
        }
        per_group = {}
        if choice.pool != "in-house":
            for g in sorted(np.unique(groups[ok])):
                m = ok & (groups == g)
                per_group[g] = binary(p[m] >= t, y[m])
        if choice.soft_and is not None:
            head = TrainedHead(
                name=choice.name,
                weight=np.zeros(x.shape[1], np.float32),
                bias=0.0,
                l2=0.0,
                pca_dim=None,
                platt_a=round(a, 6),
                platt_b=round(b, 6),
                threshold=t,
                n_train=int(known.sum()),
                soft_and=(by_name[choice.soft_and[0]], by_name[choice.soft_and[1]]),
            )
        else:
            w, bias = fit(zs[known], y[known], group_weights(groups[known]), choice.l2)
            full, raw_bias = reducer.to_raw(w, bias, x.shape[1])
            folded = np.max(np.abs((xs @ full + raw_bias) - (zs @ w + bias)))
            assert folded < 1e-6, f"{choice.name}: PCA fold-back differs by {folded}"
            head = TrainedHead(
                name=choice.name,
                weight=full.astype(np.float32),
                bias=float(np.float32(raw_bias)),
                l2=choice.l2,
                pca_dim=None,
                platt_a=round(a, 6),
                platt_b=round(b, 6),
                threshold=t,
                n_train=int(known.sum()),
                cv=None,
            )
        by_name[choice.name] = head
        if not choice.auxiliary:
            heads.append(head)
        # The in-house evaluation set, scored by the final head (a floor, written in-house).
        ye = labels(eval_ih, choice.label)
        pe = _sigmoid(head.platt_a * head.logit(x_eval) + head.platt_b)
        ke = ~np.isnan(ye)
        entry: dict[str, Any] = {
            "label": choice.label,
            "features": list(choice.columns),
            "l2": choice.l2,
            "principal_components_per_embedding": choice.dims,
            "soft_and": list(choice.soft_and) if choice.soft_and else None,
            "auxiliary": choice.auxiliary,
            "threshold_rule": choice.threshold_rule,
            "trained_on": choice.pool,
            "n_train": int(known.sum()),
            "platt": {"a": head.platt_a, "b": head.platt_b},
            "threshold": t,
            "held_out_sources": per_group,
            "held_out_pooled": pooled,
            "held_out_fpr_on_helpful_answers_to_benign_requests": benign_fpr,
            "in_house_eval": binary(pe[ke] >= t, ye[ke]),
        }
        if choice.name == "quality":
            acc, n_pairs = pair_accuracy(pe, ye, [e["prompt"] for e in eval_ih])
            entry["in_house_eval_pair_accuracy"] = {"accuracy": round(acc, 4), "pairs": n_pairs}
        report[choice.name] = entry
    layers = fuse_heads(heads)
    counts: dict[str, dict[str, int]] = {}
    for e in pool:
        c = counts.setdefault(e["source"], {"rows": 0})
        c["rows"] += 1
    meta = {
        "trained_by": "tools/judges/train.py",
        "metrics": {name: report[name]["held_out_pooled"] for name in report},
        "sources": {
            k: {"answers_from": v[0], "labelled_by": v[1], "licence": v[2], **counts.get(k, {})}
            for k, v in SOURCES.items()
        },
        "heads": report,
        "summary": {name: _summary(name, report[name]) for name in report},
    }
    return CommittedHeads(
        lexicon=lexicon,
        layers=tuple(layers),
        names=tuple(h.name for h in heads),
        platt_a=tuple(h.platt_a for h in heads),
        platt_b=tuple(h.platt_b for h in heads),
        thresholds=tuple(h.threshold for h in heads),
        meta=meta,
    )


def _summary(name: str, entry: dict[str, Any]) -> str:
    inhouse = f"in-house eval F1 {entry['in_house_eval']['f1']:.3f}"
    if name == "quality":
        pairs = entry["in_house_eval_pair_accuracy"]["accuracy"]
        return f"{inhouse}, good-above-poor pairs {pairs:.3f} (in-house data only)"
    return f"held-out-source F1 macro {_macro(entry['held_out_sources']):.3f}; {inhouse}"


def _macro(per_group: dict[str, dict[str, float]]) -> float:
    vals = [r["f1"] for r in per_group.values() if r["positives"] > 0]
    return float(np.mean(vals)) if vals else float("nan")


def compare(a: CommittedHeads, b: CommittedHeads) -> list[str]:
    """Differences that matter between two trainings (empty: the same heads)."""
    problems = []
    if a.names != b.names or any(
        abs(x - y) > 0.02 for x, y in zip(a.thresholds, b.thresholds, strict=True)
    ):
        problems.append(f"names/thresholds {a.names}/{a.thresholds} vs {b.names}/{b.thresholds}")
    if not np.array_equal(a.lexicon.phrases, b.lexicon.phrases):
        problems.append("lexicon differs")
    for i, (la, lb) in enumerate(zip(a.layers, b.layers, strict=True)):
        scale = float(np.max(np.abs(la.weight))) or 1.0
        diff = float(np.max(np.abs(la.weight - lb.weight))) / scale
        if diff > 1e-3:
            problems.append(f"layer {i} weights differ by {diff:.2e} (relative)")
    for name in a.names:
        ha, hb = a.meta["heads"][name], b.meta["heads"][name]
        for g, ra in ha["held_out_sources"].items():
            rb = hb["held_out_sources"].get(g)
            if rb is None or abs(ra["f1"] - rb["f1"]) > 0.005:
                problems.append(f"{name} on {g}: F1 {ra['f1']} vs {rb and rb['f1']}")
    return problems


CANDIDATES: dict[str, tuple[tuple[str, ...], int]] = {
    "response embedding + length (v5 features)": (("e_r", "loglen"), PCA_DIMS),
    "+ opening pool": (("e_r", "loglen", "e_o"), PCA_DIMS),
    "lexicon only (learned weights)": (("lex_open", "lex_any"), PCA_DIMS),
    "embedding + length + lexicon": (("e_r", "loglen", "lex_open", "lex_any"), PCA_DIMS),
    "+ opening pool + lexicon": (("e_r", "loglen", "e_o", "lex_open", "lex_any"), PCA_DIMS),
    "lexicon + length + opening pool (16 PCs)": (("loglen", "e_o", "lex_open", "lex_any"), 16),
    "lexicon + length + both pools (16 PCs)": (("e_r", "loglen", "e_o", "lex_open", "lex_any"), 16),
    "lexicon + opening pool (4 PCs)": (("e_o", "lex_open", "lex_any"), 4),
}


def soft_and_eval(
    pool: list[dict[str, Any]], x: np.ndarray, layout: Layout, groups: np.ndarray, l2: float = 10.0
) -> None:
    """unsafe = min(harmful_request', -refusal'), each calibrated out of source."""
    cal = {}
    for head in ("refusal", "harmful_request"):
        y = labels(pool, head)
        z = Reducer(x, layout, HEAD_COLUMNS[head], 16 if head == "refusal" else PCA_DIMS)(x)
        logit = out_of_group(z, y, groups, l2)
        ok = ~np.isnan(logit)
        a, b = platt_grid(logit[ok], y[ok])
        cal[head] = a * logit + b
    u = np.minimum(cal["harmful_request"], -cal["refusal"])
    y = labels(pool, "unsafe")
    ok = ~np.isnan(u) & ~np.isnan(y)
    a, b = platt_grid(u[ok], y[ok])
    p = _sigmoid(a * u + b)
    t = choose_threshold("fpr_cap", p, y, groups, pool)
    print(f"soft-AND unsafe: threshold {t}")
    for g in sorted(np.unique(groups[ok])):
        m = ok & (groups == g)
        r = binary(p[m] >= t, y[m])
        print(
            f"    {g:34s} n {r['n']:5d} pos {r['positives']:5d} F1 {r['f1']:.3f} "
            f"FPR {r['fpr']:.3f} FNR {r['fnr']:.3f}",
            flush=True,
        )


def compare_refusal(
    pool: list[dict[str, Any]],
    x: np.ndarray,
    layout: Layout,
    groups: np.ndarray,
    only: Sequence[str] = (),
) -> None:
    """Leave-one-source-out refusal F1 per candidate feature set, beside the phrase rule."""
    y = labels(pool, "refusal")
    known = ~np.isnan(y)
    names = sorted(np.unique(groups[known]))
    table: dict[str, dict[str, dict[str, float]]] = {}
    rule = np.array([sources.opens_with_decline(e["response"]) for e in pool])
    table["phrase rule (decline in the opening)"] = {
        g: binary(rule[known & (groups == g)], y[known & (groups == g)]) for g in names
    }
    for name, (parts, dims) in CANDIDATES.items():
        if only and name not in only:
            continue
        z = Reducer(x, layout, parts, dims)(x)
        logit = out_of_group(z, y, groups, 10.0)
        ok = ~np.isnan(logit)
        a, b = fit_platt(logit[ok], y[ok])
        p = _sigmoid(a * logit + b)
        t = f1_threshold(p[ok], y[ok], group_weights(groups[ok]))
        table[name] = {g: binary(p[ok & (groups == g)] >= t, y[ok & (groups == g)]) for g in names}
    print("F1 per held-out group (FPR where the group has no refusals)")
    print("| candidate | " + " | ".join(names) + " | macro F1 |")
    print("|---" * (len(names) + 2) + "|")
    for name, row in table.items():
        cells = [
            f"{row[g]['f1']:.3f}" if row[g]["positives"] else f"FPR {row[g]['fpr']:.3f}"
            for g in names
        ]
        macro = np.mean([row[g]["f1"] for g in names if row[g]["positives"]])
        print(f"| {name} | " + " | ".join(cells) + f" | {macro:.3f} |", flush=True)


def sweep(
    pool: list[dict[str, Any]],
    x: np.ndarray,
    layout: Layout,
    groups: np.ndarray,
    heads: Sequence[str],
    l2: float | None,
) -> None:
    """Leave-one-source-out figures per head and L2 strength (development)."""
    for head in heads:
        y = labels(pool, head)
        z = Reducer(x, layout, HEAD_COLUMNS[head])(x)
        known = ~np.isnan(y)
        print(
            f"\n== {head}: {int(known.sum())} labelled, {int(np.nansum(y))} positive, "
            f"{z.shape[1]} inputs"
        )
        for strength in [l2] if l2 else L2_GRID:
            logit = out_of_group(z, y, groups, strength)
            ok = ~np.isnan(logit)
            a, b = fit_platt(logit[ok], y[ok])
            p = _sigmoid(a * logit + b)
            t = f1_threshold(p[ok], y[ok], group_weights(groups[ok]))
            rows = []
            for g in sorted(np.unique(groups[ok])):
                m = ok & (groups == g)
                rows.append((g, binary(p[m] >= t, y[m])))
            macro = np.mean([r["f1"] for _, r in rows if r["positives"] > 0])
            print(f"  l2 {strength}: threshold {t}, macro F1 over groups {macro:.3f}")
            for g, r in rows:
                print(
                    f"    {g:34s} n {r['n']:5d} pos {r['positives']:5d} F1 {r['f1']:.3f} "
                    f"FPR {r['fpr']:.3f} FNR {r['fnr']:.3f}"
                )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--heads", default="refusal,harmful_request,unsafe")
    ap.add_argument("--no-in-house", action="store_true")
    ap.add_argument("--l2", type=float, default=None)
    ap.add_argument("--write", action="store_true", help="train the final heads and write them")
    ap.add_argument(
        "--check",
        action="store_true",
        help="train the final heads and compare with the committed ones",
    )
    ap.add_argument("--heads-file", type=Path, default=HEADS_FILE)
    ap.add_argument("--soft-and", action="store_true", help="unsafe as harmful AND NOT refusal")
    ap.add_argument("--only", action="append", default=[], help="with --compare: candidates")
    ap.add_argument(
        "--compare",
        action="store_true",
        help="refusal: compare feature sets and the phrase-rule baseline",
    )
    args = ap.parse_args(argv)

    minilm = load_minilm()
    tj = judge_tokenizer_json(minilm.tokenizer_path, MAX_LENGTH)
    lexicon, _names = feats.lexicon_from_phrases(
        feats.read_lexicon(HERE / "data/refusal_lexicon.txt"), tj, OPENING_TOKENS
    )
    real = sources.load_examples(args.datasets)
    train_ih = in_house("train")
    eval_ih = in_house("eval")
    everything = real + train_ih + eval_ih
    x_all = feats.compute_features(
        [e["prompt"] for e in everything], [e["response"] for e in everything], lexicon, args.cache
    )
    n_real, n_ih = len(real), len(train_ih)
    pool = real if args.no_in_house else real + train_ih
    x = x_all[: len(pool)]
    groups = np.array([group_of(e) for e in pool])
    layout = Layout(d=minilm.weights["embeddings.LayerNorm.weight"].shape[0], p=lexicon.size)
    print(
        f"examples: real {n_real}, in-house train {n_ih}, eval {len(eval_ih)}; "
        f"features {x.shape[1]}"
    )
    if args.write or args.check:
        final = train_final(pool, x, layout, eval_ih, x_all[len(real) + n_ih :], lexicon)
        for name, text in final.meta["summary"].items():
            print(f"  {name}: {text}")
        if args.check:
            problems = compare(load_committed_heads(args.heads_file), final)
            for p in problems:
                print(f"  DIFFERS: {p}")
            print(
                "retraining reproduces the committed heads"
                if not problems
                else "retraining does NOT reproduce the committed heads"
            )
            return 1 if problems else 0
        save_committed_heads(final, args.heads_file)
        REPORT_FILE.write_text(
            json.dumps(final.meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.heads_file} and {REPORT_FILE}")
        return 0
    if args.soft_and:
        soft_and_eval(pool, x, layout, groups)
        return 0
    if args.compare:
        compare_refusal(pool, x, layout, groups, args.only)
        return 0
    sweep(pool, x, layout, groups, args.heads.split(","), args.l2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
