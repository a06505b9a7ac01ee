"""Training the default judge heads in NumPy, and the metrics the build prints.

Each head is a class-balanced, L2-regularised logistic regression on frozen sentence-embedding
features (optionally on their leading principal components), calibrated with Platt scaling
and given an F1-optimal decision threshold. Every choice is made on the training set alone, by
crossed grouped cross-validation (:func:`crossed_folds`): a validation cell holds out one group
of prompts AND one group of response openings, and the model for it is trained on examples
that share neither, so neither the request nor the phrasing template leaks into validation
(plain prompt-grouped folds scored refusals at F1 0.99, because the response templates were in
both sides). From the out-of-fold logits of the chosen setting come the Platt parameters and
the threshold; the head is then refitted on every labelled example.

The fitted head is one linear map on the raw features, ``logit = x @ weight + bias`` (a
principal-component projection folds into it), so all heads fuse into one dense layer.

Deterministic: no randomness (Newton's method from zero weights, fixed grids, folds from a
SHA-256 of the text), so the same features give the same weights.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from taxmeter.judgetools.graph import DenseLayer

__all__ = [
    "CV_FOLDS",
    "HEAD_NAMES",
    "BinaryMetrics",
    "CvResult",
    "EvalMetrics",
    "Folds",
    "HeadRecipe",
    "TrainedHead",
    "calibrated",
    "crossed_folds",
    "evaluate",
    "fit_platt",
    "fuse_heads",
    "logistic_path",
    "pair_accuracy",
    "train_heads",
    "train_logistic",
]

HEAD_NAMES: tuple[str, ...] = ("refusal", "unsafe", "quality")
CV_FOLDS = 3
"""Groups per axis of the crossed split: ``CV_FOLDS ** 2`` validation cells."""
PLATT_L2 = 1e-2
"""Ridge on Platt's (a, b): keeps the slope finite when the out-of-fold logits separate."""


@dataclass(frozen=True, slots=True)
class HeadRecipe:
    """What one head may use and which settings cross-validation chooses among."""

    name: str
    columns: np.ndarray | None
    """Feature column indices the head sees (None: all)."""
    pca_dims: tuple[int | None, ...]
    """Candidate numbers of leading principal components (None: the columns themselves)."""
    l2_grid: tuple[float, ...]
    select_by_pairs: bool = False
    """Choose the setting by out-of-fold good-above-poor pair accuracy (then log-loss)."""
    soft_and: tuple[str, str] | None = None
    """``(a, b)``: instead of fitting, the head's logit is ``min(a', -b')``, where ``a'`` and
    ``b'`` are the Platt-calibrated logits of the earlier heads ``a`` and ``b`` ("a and not
    b"); ``columns``, ``pca_dims`` and ``l2_grid`` are unused."""
    label: str | None = None
    """Which label it learns (default: ``name``)."""


@dataclass(frozen=True, slots=True)
class CvResult:
    """Out-of-fold quality of one head's chosen setting on the training set."""

    log_loss: float
    f1: float
    pair_accuracy: float | None
    n_validated: int


@dataclass(frozen=True, slots=True)
class TrainedHead:
    """One linear head on the raw features: ``logit = x @ weight + bias``; its score is
    ``sigmoid(platt_a * logit + platt_b)``, positive when ``score >= threshold``."""

    name: str
    weight: np.ndarray
    bias: float
    l2: float
    pca_dim: int | None
    platt_a: float
    platt_b: float
    threshold: float
    n_train: int
    cv: CvResult | None
    soft_and: tuple[TrainedHead, TrainedHead] | None = None
    """For a soft-AND head, its two base heads (``weight`` and ``bias`` are then unused)."""

    def calibrated_logit(self, features: np.ndarray) -> np.ndarray:
        """``platt_a * logit + platt_b`` on raw features ``[N, F]`` (float64)."""
        return self.platt_a * self.logit(features) + self.platt_b

    def logit(self, features: np.ndarray) -> np.ndarray:
        """The head's logit on raw features ``[N, F]``, as the fused graph computes it."""
        x = np.asarray(features, dtype=np.float64)
        if self.soft_and is not None:
            a, b = self.soft_and
            out: np.ndarray = np.minimum(a.calibrated_logit(x), -b.calibrated_logit(x))
            return out
        result: np.ndarray = x @ self.weight.astype(np.float64) + self.bias
        return result


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
    return logistic_path(x, y, (l2,), iterations=iterations)[0]


def logistic_path(
    x: np.ndarray, y: np.ndarray, l2s: Sequence[float], *, iterations: int = 30,
    tolerance: float = 1e-6,
) -> list[tuple[np.ndarray, float]]:
    """:func:`train_logistic` for each L2 strength in ``l2s``, fitted from the strongest to the
    weakest, each one starting from the previous solution (few Newton steps each); results in
    the order of ``l2s``. The Newton system is solved in the smaller of feature and sample
    space. Stops when no standardised coefficient moves by more than ``tolerance``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0) + 1e-6
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    pos = max(float(y.sum()), 1.0)
    neg = max(float(len(y) - y.sum()), 1.0)
    sw = np.where(y > 0.5, len(y) / (2 * pos), len(y) / (2 * neg))
    primal = z.shape[1] <= len(z)
    theta = np.zeros(z.shape[1])
    fitted: dict[float, tuple[np.ndarray, float]] = {}
    for l2 in sorted(set(l2s), reverse=True):
        reg = np.full(z.shape[1], l2)
        reg[-1] = 1e-6
        root_reg = np.sqrt(reg)
        for _ in range(iterations):
            p = _sigmoid(z @ theta)
            grad = z.T @ (sw * (p - y)) + reg * theta
            curv = sw * p * (1 - p)
            if primal:
                step = np.linalg.solve((z * curv[:, None]).T @ z + np.diag(reg), grad)
            else:
                # H = Z'SZ + R solved in the n-dimensional sample space: with
                # A = S^1/2 Z R^-1/2, H^-1 = R^-1/2 (I - A'(I + AA')^-1 A) R^-1/2.
                a = np.sqrt(curv)[:, None] * z / root_reg
                v = grad / root_reg
                step = (v - a.T @ np.linalg.solve(np.eye(len(z)) + a @ a.T, a @ v)) / root_reg
            theta = theta - step
            if float(np.max(np.abs(step))) < tolerance:
                break
        w = theta[:-1] / std
        fitted[l2] = (w, float(theta[-1] - np.sum(theta[:-1] * mean / std)))
    return [fitted[l2] for l2 in l2s]


def fit_platt(logits: np.ndarray, y: np.ndarray, l2: float = PLATT_L2) -> tuple[float, float]:
    """Platt scaling ``p = sigmoid(a * logit + b)`` by Newton's method, with a small ridge on
    ``(a, b)`` so that separable logits give a finite slope."""
    z = np.stack([np.asarray(logits, np.float64), np.ones(len(logits))], axis=1)
    y = np.asarray(y, dtype=np.float64)
    theta = np.array([1.0, 0.0])
    for _ in range(50):
        p = _sigmoid(z @ theta)
        grad = z.T @ (p - y) / len(y) + l2 * theta
        hess = (z * (p * (1 - p))[:, None]).T @ z / len(y) + l2 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return float(theta[0]), float(theta[1])


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _group(text: str, k: int) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % k


def _words(response: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", response.lower())


@dataclass(frozen=True, slots=True)
class Folds:
    """The crossed split (see :func:`crossed_folds`)."""

    prompt_group: np.ndarray
    opening_group: np.ndarray
    ending: np.ndarray
    """Integer id of each response's last four words."""

    def subset(self, keep: np.ndarray) -> Folds:
        return Folds(self.prompt_group[keep], self.opening_group[keep], self.ending[keep])

    def cells(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(fit, validate)`` masks: cell ``(i, j)`` validates the examples of prompt group
        ``i`` and opening group ``j`` with a model fitted on examples from other prompt groups,
        other opening groups, and whose response ending no validated response has."""
        k = int(max(self.prompt_group.max(initial=0), self.opening_group.max(initial=0))) + 1
        out = []
        for i in range(k):
            for j in range(k):
                val = (self.prompt_group == i) & (self.opening_group == j)
                fit = ((self.prompt_group != i) & (self.opening_group != j)
                       & ~np.isin(self.ending, self.ending[val]))
                out.append((fit, val))
        return out


def crossed_folds(
    prompts: Sequence[str], responses: Sequence[str], k: int = CV_FOLDS
) -> Folds:
    """Groups for the crossed split: the prompt (hashed into ``k`` groups), the response's
    first three words (hashed into ``k`` groups) and its last four words (shared endings, such
    as a template's closing sentence, never straddle fitting and validation)."""
    endings = [" ".join(_words(r)[-4:]) for r in responses]
    ids = {e: n for n, e in enumerate(sorted(set(endings)))}
    return Folds(np.array([_group(p, k) for p in prompts], dtype=np.int64),
                 np.array([_group(" ".join(_words(r)[:3]), k) for r in responses],
                          dtype=np.int64),
                 np.array([ids[e] for e in endings], dtype=np.int64))


def _best_f1_threshold(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(f1, threshold)``: the threshold halfway between the score that maximises F1 and the
    next lower score."""
    order = np.argsort(-scores, kind="stable")
    s, ys = scores[order], y[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(1 - ys)
    f1 = 2 * tp / (tp + fp + ys.sum())
    i = int(np.argmax(f1))
    lower = s[i + 1] if i + 1 < len(s) else s[i] - 1e-3
    return float(f1[i]), float((s[i] + lower) / 2)


def pair_accuracy(
    scores: np.ndarray, quality: np.ndarray, prompts: Sequence[str]
) -> tuple[float, int]:
    """Share of (good, poor) pairs to the same prompt where good scores higher (ties: half)."""
    by_prompt: dict[str, list[int]] = {}
    for i, p in enumerate(prompts):
        by_prompt.setdefault(p, []).append(i)
    wins = 0.0
    pairs = 0
    for prompt in sorted(by_prompt):
        idx = by_prompt[prompt]
        good = [scores[i] for i in idx if quality[i] == 1.0]
        poor = [scores[i] for i in idx if quality[i] == 0.0]
        for g in good:
            for bad in poor:
                pairs += 1
                wins += 1.0 if g > bad else (0.5 if g == bad else 0.0)
    return wins / max(pairs, 1), pairs


class _Projection:
    """Centre and project onto the leading ``dim`` principal components (identity if None)."""

    def __init__(self, mean: np.ndarray, basis: np.ndarray | None) -> None:
        self.mean = mean
        self.basis = basis

    @staticmethod
    def family(x: np.ndarray, dims: Sequence[int | None]) -> list[_Projection]:
        """One projection per entry of ``dims``, from one eigendecomposition of the covariance
        (cheaper than an SVD of ``x`` when there are more rows than columns)."""
        mean = x.mean(axis=0)
        wanted = [d for d in dims if d is not None and d < x.shape[1]]
        axes: np.ndarray | None = None
        if wanted:
            centred = x - mean
            values, vectors = np.linalg.eigh(centred.T @ centred)
            axes = vectors[:, np.argsort(-values, kind="stable")[:max(wanted)]]
        return [_Projection(mean, None if d is None or axes is None or d >= x.shape[1]
                            else axes[:, :d]) for d in dims]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = x - self.mean
        return out if self.basis is None else out @ self.basis

    def to_raw(self, w: np.ndarray, b: float) -> tuple[np.ndarray, float]:
        """A linear head on projected features as one on the raw features."""
        raw = w if self.basis is None else self.basis @ w
        return raw, float(b - self.mean @ raw)


def _out_of_fold(
    z: np.ndarray, y: np.ndarray, folds: Folds, l2s: Sequence[float],
) -> list[np.ndarray]:
    """Out-of-fold logits over the crossed cells, one array per L2 strength (NaN for cells
    with no examples)."""
    oofs = [np.full(len(y), np.nan) for _ in l2s]
    for fit, val in folds.cells():
        if not val.any() or len(np.unique(y[fit])) < 2:
            continue
        for oof, (w, b) in zip(oofs, logistic_path(z[fit], y[fit], l2s), strict=True):
            oof[val] = z[val] @ w + b
    return oofs


def train_heads(
    features: np.ndarray,
    labels: Mapping[str, np.ndarray],
    folds: Folds,
    recipes: Sequence[HeadRecipe],
    prompts: Sequence[str],
    *,
    out_of_fold: dict[str, np.ndarray] | None = None,
) -> list[TrainedHead]:
    """One head per recipe; ``labels[name]`` uses NaN for "not applicable".

    Per head: every (PCA dims, L2) setting is scored out of fold on the crossed folds (log-loss,
    or pair accuracy first for ``select_by_pairs``); the best one's out-of-fold logits give the
    Platt parameters and the F1-optimal threshold; then the head is refitted on all labelled
    examples. The principal components are computed once per head on all its training
    features (unsupervised: labels are not used). Unseen columns get zero weight in the fused
    layer. If ``out_of_fold`` is given, it receives per head the calibrated out-of-fold score
    of every example (NaN where not validated or not labelled), for diagnostics.
    """
    heads: list[TrainedHead] = []
    oof_by_name: dict[str, np.ndarray] = {}
    for recipe in recipes:
        y_all = np.asarray(labels[recipe.label or recipe.name], dtype=np.float64)
        known = ~np.isnan(y_all)
        kept_prompts = [p for p, k in zip(prompts, known, strict=True) if k]
        if recipe.soft_and is not None:
            base_a, base_b = (next(h for h in heads if h.name == n) for n in recipe.soft_and)
            oof = np.minimum(base_a.platt_a * oof_by_name[base_a.name] + base_a.platt_b,
                             -(base_b.platt_a * oof_by_name[base_b.name] + base_b.platt_b))[known]
            y = y_all[known]
            dim, l2, fitted = None, 0.0, None
        else:
            cols = np.arange(features.shape[1]) if recipe.columns is None else recipe.columns
            x, y = features[known][:, cols], y_all[known]
            kept = folds.subset(known)
            best: tuple[tuple[float, float], int | None, float, np.ndarray, _Projection] | None
            best = None
            for dim, proj in zip(recipe.pca_dims, _Projection.family(x, recipe.pca_dims),
                                 strict=True):
                z = proj(x)
                for l2, oof in zip(recipe.l2_grid, _out_of_fold(z, y, kept, recipe.l2_grid),
                                   strict=True):
                    ok = ~np.isnan(oof)
                    if not ok.any():
                        raise ValueError(f"head {recipe.name!r}: no cross-validation cell had "
                                         "both classes left to fit on")
                    loss = _log_loss(_sigmoid(oof[ok]), y[ok])
                    key = (loss, 0.0)
                    if recipe.select_by_pairs:
                        acc, _ = pair_accuracy(
                            oof[ok], y[ok],
                            [p for p, v in zip(kept_prompts, ok, strict=True) if v])
                        key = (-acc, loss)
                    if best is None or key < best[0]:
                        best = (key, dim, l2, oof, proj)
            assert best is not None
            _, dim, l2, oof, proj = best
            w_z, bias_z = train_logistic(proj(x), y, l2)
            w_cols, bias = proj.to_raw(w_z, bias_z)
            w = np.zeros(features.shape[1])
            w[cols] = w_cols
            fitted = (w.astype(np.float32), float(np.float32(bias)))
        full_oof = np.full(len(y_all), np.nan)
        full_oof[known] = oof
        oof_by_name[recipe.name] = full_oof
        ok = ~np.isnan(oof)
        a, b_platt = fit_platt(oof[ok], y[ok])
        scores = _sigmoid(a * oof[ok] + b_platt)
        if out_of_fold is not None:
            out_of_fold[recipe.name] = _sigmoid(a * full_oof + b_platt)
        f1, threshold = _best_f1_threshold(scores, y[ok])
        pairs = (pair_accuracy(oof[ok], y[ok],
                               [p for p, v in zip(kept_prompts, ok, strict=True) if v])[0]
                 if recipe.select_by_pairs else None)
        cv = CvResult(log_loss=round(_log_loss(scores, y[ok]), 4), f1=round(f1, 4),
                      pair_accuracy=None if pairs is None else round(pairs, 4),
                      n_validated=int(ok.sum()))
        heads.append(TrainedHead(
            name=recipe.name,
            weight=np.zeros(features.shape[1], np.float32) if fitted is None else fitted[0],
            bias=0.0 if fitted is None else fitted[1], l2=l2,
            pca_dim=dim, platt_a=round(a, 6), platt_b=round(b_platt, 6),
            threshold=round(min(max(threshold, 0.01), 0.99), 4), n_train=int(known.sum()),
            cv=cv, soft_and=None if recipe.soft_and is None else (base_a, base_b),
        ))
    return heads


def fuse_heads(heads: Sequence[TrainedHead]) -> list[DenseLayer]:
    """The heads as dense layers on the features: logits in ``heads`` order.

    Linear heads only: one layer ``[F, len(heads)]``. With a soft-AND head, two layers with a
    ReLU between them: the first computes, per linear head, ``z`` and ``-z`` (``z = relu(z) -
    relu(-z)`` passes it through exactly), and per soft-AND head ``a'``, ``-a'`` and
    ``a' + b'``; the second forms ``min(a', -b') = a' - relu(a' + b')``.
    """
    if all(h.soft_and is None for h in heads):
        weight = np.stack([h.weight for h in heads], axis=1).astype(np.float32)
        bias = np.array([h.bias for h in heads], dtype=np.float32)
        return [DenseLayer(weight=weight, bias=bias)]
    cols: list[np.ndarray] = []
    biases: list[float] = []
    second: list[list[tuple[int, float]]] = []

    def unit(w: np.ndarray, b: float) -> int:
        cols.append(w)
        biases.append(b)
        return len(cols) - 1

    for h in heads:
        if h.soft_and is None:
            w, b = h.weight.astype(np.float64), float(h.bias)
            second.append([(unit(w, b), 1.0), (unit(-w, -b), -1.0)])
        else:
            a, n = h.soft_and
            wa = a.platt_a * a.weight.astype(np.float64)
            ba = a.platt_a * a.bias + a.platt_b
            wn = n.platt_a * n.weight.astype(np.float64)
            bn = n.platt_a * n.bias + n.platt_b
            second.append([(unit(wa, ba), 1.0), (unit(-wa, -ba), -1.0),
                           (unit(wa + wn, ba + bn), -1.0)])
    first = DenseLayer(weight=np.stack(cols, axis=1).astype(np.float32),
                       bias=np.array(biases, dtype=np.float32))
    out = np.zeros((len(cols), len(heads)), dtype=np.float32)
    for j, terms in enumerate(second):
        for i, c in terms:
            out[i, j] = c
    return [first, DenseLayer(weight=out, bias=np.zeros(len(heads), dtype=np.float32))]


def calibrated(head: TrainedHead, logits: np.ndarray) -> np.ndarray:
    """The head's score as the engine computes it from the manifest (sigmoid, then Platt)."""
    return _sigmoid(head.platt_a * np.asarray(logits, dtype=np.float64) + head.platt_b)


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
    acc, pairs = pair_accuracy(scores["quality"], np.asarray(labels["quality"], np.float64),
                               prompts)
    return EvalMetrics(
        refusal=per["refusal"], unsafe=per["unsafe"], quality=per["quality"],
        quality_pairs=pairs, quality_pair_accuracy=round(acc, 4),
    )
