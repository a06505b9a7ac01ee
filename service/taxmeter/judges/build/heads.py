"""Training the default judge heads in NumPy: class-balanced, L2-regularised logistic
regression per head on frozen sentence-embedding features, and the metrics the build prints.

No Platt calibration is fitted: the only labelled data apart from the evaluation set is
template-generated, and its held-out prompts are separable, which drives Platt's slope to
infinity (scores of exactly 0 or 1). The score is the sigmoid of a class-balanced logistic
regression; fit Platt on your own labelled traffic and put it in the manifest.

Deterministic: no randomness at all (Newton's method from zero weights, fixed hyper-parameter
grid, fixed fold assignment by sorted prompt), so the same features give the same weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from taxmeter.judges.build.graph import DenseLayer

__all__ = [
    "HEAD_NAMES",
    "BinaryMetrics",
    "EvalMetrics",
    "TrainedHead",
    "evaluate",
    "fuse_heads",
    "holdout_mask",
    "train_heads",
    "train_logistic",
]

HEAD_NAMES: tuple[str, ...] = ("refusal", "unsafe", "quality")
L2_GRID: tuple[float, ...] = (0.3, 1.0, 3.0, 10.0, 30.0)
HOLDOUT_EVERY = 5
"""Every 5th distinct prompt (sorted) is held out for choosing the L2 strength."""


@dataclass(frozen=True, slots=True)
class TrainedHead:
    """One linear head on the raw features: ``logit = x @ weight + bias``."""

    name: str
    weight: np.ndarray
    bias: float
    l2: float
    threshold: float
    n_train: int
    n_holdout: int


@dataclass(frozen=True, slots=True)
class BinaryMetrics:
    n: int
    positives: int
    f1: float
    fpr: float
    fnr: float
    accuracy: float


@dataclass(frozen=True, slots=True)
class EvalMetrics:
    refusal: BinaryMetrics
    unsafe: BinaryMetrics
    quality: BinaryMetrics
    quality_pairs: int
    quality_pair_accuracy: float
    """Share of (good, poor) answer pairs to the same prompt where good scores higher."""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def train_logistic(
    x: np.ndarray, y: np.ndarray, l2: float, *, iterations: int = 30
) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression by Newton's method; ``(weight, bias)`` on ``x``.

    Features are standardised inside and the result mapped back to raw features.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    pos = max(float(y.sum()), 1.0)
    neg = max(float(len(y) - y.sum()), 1.0)
    sw = np.where(y > 0.5, len(y) / (2 * pos), len(y) / (2 * neg))
    reg = np.full(z.shape[1], l2)
    reg[-1] = 1e-6
    theta = np.zeros(z.shape[1])
    root_reg = np.sqrt(reg)
    eye = np.eye(len(z))
    for _ in range(iterations):
        p = _sigmoid(z @ theta)
        grad = z.T @ (sw * (p - y)) + reg * theta
        # Newton step H^-1 g with H = Z'SZ + R, solved in the n-dimensional sample space
        # (n << d here): with A = S^1/2 Z R^-1/2, H^-1 = R^-1/2 (I - A'(I + AA')^-1 A) R^-1/2.
        a = np.sqrt(sw * p * (1 - p))[:, None] * z / root_reg
        v = grad / root_reg
        step = (v - a.T @ np.linalg.solve(eye + a @ a.T, a @ v)) / root_reg
        theta -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    w = theta[:-1] / std
    b = float(theta[-1] - np.sum(theta[:-1] * mean / std))
    return w, b


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def holdout_mask(prompts: Sequence[str]) -> np.ndarray:
    """True for examples whose prompt is every ``HOLDOUT_EVERY``-th distinct prompt (sorted)."""
    distinct = sorted(set(prompts))
    held = {p for i, p in enumerate(distinct) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1}
    return np.array([p in held for p in prompts], dtype=bool)


def train_heads(
    features: np.ndarray,
    labels: Mapping[str, np.ndarray],
    holdout: np.ndarray,
    feature_columns: Mapping[str, slice] | None = None,
) -> list[TrainedHead]:
    """One head per name in ``HEAD_NAMES``; ``labels[name]`` uses NaN for "not applicable".

    ``feature_columns[name]`` restricts a head to some feature columns (the others get zero
    weight in the fused layer); default: all. The L2 strength is chosen on the held-out prompts
    (log-loss), then the head is refitted on every example with that L2.
    """
    heads: list[TrainedHead] = []
    all_features = features
    for name in HEAD_NAMES:
        cols = (feature_columns or {}).get(name, slice(None))
        features = all_features[:, cols]
        y_all = np.asarray(labels[name], dtype=np.float64)
        known = ~np.isnan(y_all)
        tr, ho = known & ~holdout, known & holdout
        best: tuple[float, float, np.ndarray, float] | None = None
        for l2 in L2_GRID:
            w, b = train_logistic(features[tr], y_all[tr], l2)
            loss = _log_loss(_sigmoid(features[ho] @ w + b), y_all[ho])
            if best is None or loss < best[0] - 1e-12:
                best = (loss, l2, w, b)
        assert best is not None
        l2 = best[1]
        w_cols, b = train_logistic(features[known], y_all[known], l2)
        w = np.zeros(all_features.shape[1])
        w[cols] = w_cols
        heads.append(TrainedHead(
            name=name, weight=w.astype(np.float32), bias=float(np.float32(b)), l2=l2,
            threshold=0.5,
            n_train=int(known.sum()), n_holdout=int(ho.sum()),
        ))
    return heads


def fuse_heads(heads: Sequence[TrainedHead]) -> list[DenseLayer]:
    """The heads as one dense layer ``[F, len(heads)]``: logits in ``heads`` order."""
    weight = np.stack([h.weight for h in heads], axis=1).astype(np.float32)
    bias = np.array([h.bias for h in heads], dtype=np.float32)
    return [DenseLayer(weight=weight, bias=bias)]


def calibrated(head: TrainedHead, logits: np.ndarray) -> np.ndarray:
    """The head's score as the engine computes it from the manifest (sigmoid, no Platt)."""
    return _sigmoid(np.asarray(logits, dtype=np.float64))


def _binary(pred: np.ndarray, y: np.ndarray) -> BinaryMetrics:
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    tn = int(np.sum(~pred & ~y))
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    return BinaryMetrics(
        n=len(y), positives=int(y.sum()), f1=round(f1, 4),
        fpr=round(fp / max(fp + tn, 1), 4), fnr=round(fn / max(fn + tp, 1), 4),
        accuracy=round((tp + tn) / max(len(y), 1), 4),
    )


def evaluate(
    heads: Sequence[TrainedHead],
    logits: np.ndarray,
    labels: Mapping[str, np.ndarray],
    prompts: Sequence[str],
) -> EvalMetrics:
    """Metrics from raw logits ``[N, len(heads)]`` (decision: calibrated score >= threshold)."""
    per: dict[str, BinaryMetrics] = {}
    scores: dict[str, np.ndarray] = {}
    for j, head in enumerate(heads):
        y = np.asarray(labels[head.name], dtype=np.float64)
        known = ~np.isnan(y)
        p = calibrated(head, logits[:, j])
        scores[head.name] = p
        per[head.name] = _binary(p[known] >= head.threshold, y[known] > 0.5)
    q = scores["quality"]
    yq = np.asarray(labels["quality"], dtype=np.float64)
    wins = 0.0
    pairs = 0
    for prompt in sorted(set(prompts)):
        idx = [i for i, pr in enumerate(prompts) if pr == prompt]
        good = [q[i] for i in idx if yq[i] == 1.0]
        poor = [q[i] for i in idx if yq[i] == 0.0]
        for g in good:
            for bad in poor:
                pairs += 1
                wins += 1.0 if g > bad else (0.5 if g == bad else 0.0)
    return EvalMetrics(
        refusal=per["refusal"], unsafe=per["unsafe"], quality=per["quality"],
        quality_pairs=pairs, quality_pair_accuracy=round(wins / max(pairs, 1), 4),
    )
