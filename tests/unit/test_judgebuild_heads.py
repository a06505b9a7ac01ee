"""Head training (tools/judges/heads.py: Newton logistic regression, Platt, fusing into the
graph's dense layers, pair accuracy), on synthetic data."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from taxmeter.judgetools.graph import DenseLayer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "judges"))
from heads import (
    TrainedHead,
    fit_platt,
    fuse_heads,
    logistic_path,
    pair_accuracy,
    train_logistic,
)


def _separable(n: int = 200, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = (x[:, 0] - 0.5 * x[:, 1] > 0.2).astype(np.float64)
    return x, y


def _relu_net(layers: Sequence[DenseLayer], x: np.ndarray) -> np.ndarray:
    h = x
    for i, layer in enumerate(layers):
        h = h @ layer.weight.astype(np.float64) + layer.bias.astype(np.float64)
        if i < len(layers) - 1:
            h = np.maximum(h, 0.0)
    return h


def test_logistic_regression_learns_a_linear_rule_deterministically() -> None:
    x, y = _separable()
    w1, b1 = train_logistic(x, y, l2=1.0)
    w2, b2 = train_logistic(x, y, l2=1.0)
    assert np.array_equal(w1, w2) and b1 == b2
    accuracy = np.mean(((x @ w1 + b1) > 0) == (y > 0.5))
    assert accuracy >= 0.95
    assert w1[0] > 0 > w1[1]


def test_stronger_l2_shrinks_weights() -> None:
    x, y = _separable()
    weak, _ = train_logistic(x, y, l2=0.1)
    strong, _ = train_logistic(x, y, l2=100.0)
    assert np.linalg.norm(strong) < np.linalg.norm(weak)


def test_warm_started_path_matches_separate_fits() -> None:
    x, y = _separable()
    path = logistic_path(x, y, (1.0, 10.0, 0.3), tolerance=1e-10)
    for l2, (w, b) in zip((1.0, 10.0, 0.3), path, strict=True):
        w_alone, b_alone = train_logistic(x, y, l2)
        np.testing.assert_allclose(w, w_alone, atol=1e-6)
        assert abs(b - b_alone) < 1e-6


def test_sample_space_and_feature_space_newton_agree() -> None:
    x, y = _separable(n=40, d=60, seed=2)
    w_wide, b_wide = train_logistic(x, y, l2=3.0)  # d > n: solved in sample space
    w_tall, b_tall = train_logistic(np.vstack([x, x]), np.concatenate([y, y]), l2=6.0)
    np.testing.assert_allclose(w_wide, w_tall, atol=1e-5)
    assert abs(b_wide - b_tall) < 1e-5


def test_platt_slope_stays_finite_on_separable_logits() -> None:
    logits = np.array([-3.0, -2.0, -1.0, 1.0, 2.0, 3.0])
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    a, b = fit_platt(logits, y)
    assert 0 < a < 50 and abs(b) < 1e-6
    noisy = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    a_noisy, _ = fit_platt(logits, noisy)
    assert a_noisy < a


def _toy_labels(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    quality = 1 - y
    quality[::4] = np.nan
    harmful = (x[:, 2] > 0).astype(np.float64)
    return {
        "refusal": y,
        "harmful_request": harmful,
        "unsafe": harmful * (1 - y),
        "quality": quality,
    }


def _head(name: str) -> TrainedHead:
    return TrainedHead(
        name=name,
        weight=np.zeros(1, np.float32),
        bias=0.0,
        l2=1.0,
        pca_dim=None,
        platt_a=1.0,
        platt_b=0.0,
        threshold=0.5,
        n_train=0,
        cv=None,
    )


def test_pair_accuracy_counts_ties_as_half() -> None:
    acc, pairs = pair_accuracy(
        np.array([1.0, 1.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0, 1.0]), ["a", "a", "a", "b"]
    )
    assert pairs == 2 and acc == 0.75


def _linear(name: str, w: np.ndarray, b: float, a: float = 1.0, c: float = 0.0) -> TrainedHead:
    return TrainedHead(
        name=name,
        weight=w.astype(np.float32),
        bias=b,
        l2=1.0,
        pca_dim=None,
        platt_a=a,
        platt_b=c,
        threshold=0.5,
        n_train=0,
    )


def test_linear_heads_fuse_into_one_layer_in_order() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 5))
    heads = [
        _linear(n, rng.standard_normal(5), float(rng.standard_normal()))
        for n in ("refusal", "unsafe", "quality")
    ]
    layers = fuse_heads(heads)
    assert len(layers) == 1
    expected = np.stack([h.logit(x) for h in heads], axis=1)
    np.testing.assert_allclose(_relu_net(layers, x), expected, atol=1e-4)


def test_a_soft_and_head_fuses_exactly_through_one_relu() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((80, 4))
    harmful = _linear("harmful_request", rng.standard_normal(4), 0.3, a=1.2, c=-0.1)
    refusal = _linear("refusal", rng.standard_normal(4), -0.2, a=0.8, c=0.4)
    unsafe = TrainedHead(
        name="unsafe",
        weight=np.zeros(4, np.float32),
        bias=0.0,
        l2=0.0,
        pca_dim=None,
        platt_a=1.0,
        platt_b=0.0,
        threshold=0.5,
        n_train=0,
        soft_and=(harmful, refusal),
    )
    np.testing.assert_allclose(
        unsafe.logit(x), np.minimum(harmful.calibrated_logit(x), -refusal.calibrated_logit(x))
    )
    heads = [refusal, unsafe]
    layers = fuse_heads(heads)
    assert len(layers) == 2
    expected = np.stack([h.logit(x) for h in heads], axis=1)
    np.testing.assert_allclose(_relu_net(layers, x), expected, atol=1e-4)
