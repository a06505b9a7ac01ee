"""Head training and evaluation metrics on synthetic data."""

from __future__ import annotations

import numpy as np
from taxmeter.judges.build.heads import (
    HEAD_NAMES,
    TrainedHead,
    evaluate,
    fuse_heads,
    holdout_mask,
    train_heads,
    train_logistic,
)


def _separable(n: int = 200, d: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = (x[:, 0] - 0.5 * x[:, 1] > 0.2).astype(np.float64)
    return x, y


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


def test_holdout_keeps_all_examples_of_a_prompt_together() -> None:
    prompts = [f"p{i % 10}" for i in range(40)]
    mask = holdout_mask(prompts)
    for p in set(prompts):
        assert len({bool(m) for m, q in zip(mask, prompts, strict=True) if q == p}) == 1
    assert sorted({q for m, q in zip(mask, prompts, strict=True) if m}) == ["p4", "p9"]


def test_heads_skip_unlabelled_examples_and_respect_feature_columns() -> None:
    x, y = _separable(d=8)
    quality = y.copy()
    quality[::4] = np.nan
    labels = {"refusal": y, "unsafe": 1 - y, "quality": quality}
    heads = train_heads(x, labels, holdout_mask([str(i % 7) for i in range(len(y))]),
                        feature_columns={"refusal": slice(0, 4)})
    assert [h.name for h in heads] == list(HEAD_NAMES)
    assert np.all(heads[0].weight[4:] == 0)
    assert heads[2].n_train == int(np.sum(~np.isnan(quality)))
    fused = fuse_heads(heads)
    assert len(fused) == 1 and fused[0].weight.shape == (8, 3)
    np.testing.assert_array_equal(fused[0].weight[:, 1], heads[1].weight)


def _head(name: str) -> TrainedHead:
    return TrainedHead(name=name, weight=np.zeros(1, np.float32), bias=0.0, l2=1.0,
                       threshold=0.5, n_train=0, n_holdout=0)


def test_evaluate_counts_f1_fpr_fnr_and_quality_pairs() -> None:
    heads = [_head(n) for n in HEAD_NAMES]
    # refusal: labels 1,1,0,0 ; predictions (logit >= 0) 1,0,1,0 -> tp1 fn1 fp1 tn1
    logits = np.array([[2.0, -1, 3.0], [-2.0, -1, 1.0], [1.0, -1, -1.0], [-1.0, 1, 0.5]])
    labels = {
        "refusal": np.array([1.0, 1.0, 0.0, 0.0]),
        "unsafe": np.array([0.0, 0.0, 0.0, np.nan]),
        "quality": np.array([1.0, 0.0, np.nan, 0.0]),
    }
    m = evaluate(heads, logits, labels, ["a", "a", "b", "a"])
    assert (m.refusal.f1, m.refusal.fpr, m.refusal.fnr) == (0.5, 0.5, 0.5)
    assert m.unsafe.n == 3 and m.unsafe.fpr == 0.0 and m.unsafe.positives == 0
    # prompt "a": good 3.0 vs poor 1.0 and 0.5 -> both ranked right
    assert m.quality_pairs == 2 and m.quality_pair_accuracy == 1.0
