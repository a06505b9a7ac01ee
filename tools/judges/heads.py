"""Training the default judge's heads in NumPy (development time, ``tools/judges/train.py``).

Each head is a class-balanced, L2-regularised logistic regression fitted by Newton's method
(deterministic: no randomness, zero start), calibrated with Platt scaling; the fitted heads fuse
into the dense layers the graph carries (``fuse_heads``). The build never imports this: it loads
the committed layers (``taxmeter.judgetools.heads_file``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from taxmeter.judgetools.graph import DenseLayer

PLATT_L2 = 1e-2
"""Ridge on Platt's (a, b): keeps the slope finite when the logits separate."""


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
    cv: Any = None
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
    x: np.ndarray,
    y: np.ndarray,
    l2s: Sequence[float],
    *,
    iterations: int = 30,
    tolerance: float = 1e-6,
    sample_weight: np.ndarray | None = None,
) -> list[tuple[np.ndarray, float]]:
    """:func:`train_logistic` for each L2 strength in ``l2s``, fitted from the strongest to the
    weakest, each one starting from the previous solution (few Newton steps each); results in
    the order of ``l2s``. The Newton system is solved in the smaller of feature and sample
    space. Stops when no standardised coefficient moves by more than ``tolerance``.
    ``sample_weight`` multiplies each example's (class-balanced) weight."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mean = x.mean(axis=0)
    # Floored: a feature almost constant in training (a phrase seen once) would otherwise get a
    # huge raw weight and throw the logits of held-out answers that contain it.
    std = np.maximum(x.std(axis=0), 0.02)
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    pos = max(float(y.sum()), 1.0)
    neg = max(float(len(y) - y.sum()), 1.0)
    if sample_weight is not None:
        w0 = np.asarray(sample_weight, dtype=np.float64)
        w0 = w0 * (len(y) / max(float(w0.sum()), 1e-12))
        pos = max(float((w0 * y).sum()), 1e-12)
        neg = max(float((w0 * (1 - y)).sum()), 1e-12)
    else:
        w0 = np.ones(len(y))
    sw = w0 * np.where(y > 0.5, len(y) / (2 * pos), len(y) / (2 * neg))
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
            second.append(
                [(unit(wa, ba), 1.0), (unit(-wa, -ba), -1.0), (unit(wa + wn, ba + bn), -1.0)]
            )
    first = DenseLayer(
        weight=np.stack(cols, axis=1).astype(np.float32), bias=np.array(biases, dtype=np.float32)
    )
    out = np.zeros((len(cols), len(heads)), dtype=np.float32)
    for j, terms in enumerate(second):
        for i, c in terms:
            out[i, j] = c
    return [first, DenseLayer(weight=out, bias=np.zeros(len(heads), dtype=np.float32))]


def calibrated(head: TrainedHead, logits: np.ndarray) -> np.ndarray:
    """The head's score as the engine computes it from the manifest (sigmoid, then Platt)."""
    return _sigmoid(head.platt_a * np.asarray(logits, dtype=np.float64) + head.platt_b)
