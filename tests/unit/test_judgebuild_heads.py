"""Head training, the crossed cross-validation split, fusing and evaluation metrics, on synthetic
data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from taxmeter.judgetools.graph import DenseLayer
from taxmeter.judgetools.heads import (
    HEAD_NAMES,
    HeadRecipe,
    TrainedHead,
    crossed_folds,
    evaluate,
    fit_platt,
    fuse_heads,
    logistic_path,
    pair_accuracy,
    train_heads,
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


def test_crossed_folds_keep_prompts_openings_and_endings_apart() -> None:
    prompts = [f"prompt {i % 9}" for i in range(90)]
    openings = ["Sure here is", "I can't help", "The answer is", "Sorry but no", "Well it depends"]
    endings = ["hope that helps you", "anything else I can do", "call a professional today"]
    responses = [f"{openings[i % 5]} item {i} {endings[i % 3]}" for i in range(90)]
    folds = crossed_folds(prompts, responses, k=3)
    validated = np.zeros(90, dtype=bool)
    for fit, val in folds.cells():
        assert not (fit & val).any()
        validated |= val
        fit_prompts = {prompts[i] for i in np.flatnonzero(fit)}
        fit_openings = {responses[i].split(" item")[0] for i in np.flatnonzero(fit)}
        fit_endings = {responses[i].split(" ", 4)[-1].split(" ", 1)[1]
                       for i in np.flatnonzero(fit)}
        for i in np.flatnonzero(val):
            assert prompts[i] not in fit_prompts
            assert responses[i].split(" item")[0] not in fit_openings
            assert responses[i].split(" ", 4)[-1].split(" ", 1)[1] not in fit_endings
    assert validated.all()


def _toy_labels(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    quality = 1 - y
    quality[::4] = np.nan
    harmful = (x[:, 2] > 0).astype(np.float64)
    return {"refusal": y, "harmful_request": harmful,
            "unsafe": harmful * (1 - y), "quality": quality}


def test_heads_skip_unlabelled_examples_and_respect_feature_columns() -> None:
    x, y = _separable(n=240, d=8)
    labels = _toy_labels(x, y)
    prompts = [f"p{i % 12}" for i in range(len(y))]
    responses = [f"r{i % 7} text {i}" for i in range(len(y))]
    recipes = [HeadRecipe("refusal", np.arange(4), (None,), (1.0, 10.0)),
               HeadRecipe("unsafe", None, (None,), (1.0,)),
               HeadRecipe("quality", None, (None, 3), (1.0, 10.0), select_by_pairs=True)]
    heads = train_heads(x, labels, crossed_folds(prompts, responses), recipes, prompts)
    assert [h.name for h in heads] == list(HEAD_NAMES)
    assert np.all(heads[0].weight[4:] == 0)
    assert heads[2].n_train == int(np.sum(~np.isnan(labels["quality"])))
    assert heads[2].cv is not None and heads[2].cv.pair_accuracy is not None
    assert heads[0].cv is not None and heads[0].cv.f1 > 0.9
    assert 0.01 <= heads[0].threshold <= 0.99 and heads[0].platt_a > 0
    fused = fuse_heads(heads)
    assert len(fused) == 1 and fused[0].weight.shape == (8, 3)
    np.testing.assert_array_equal(fused[0].weight[:, 1], heads[1].weight)


def test_soft_and_head_is_harmful_and_not_refused_and_fuses_exactly() -> None:
    x, y = _separable(n=300, d=8, seed=4)
    labels = _toy_labels(x, y)
    prompts = [f"p{i % 15}" for i in range(len(y))]
    responses = [f"r{i % 11} text {i}" for i in range(len(y))]
    recipes = [HeadRecipe("refusal", None, (None,), (1.0,)),
               HeadRecipe("harmful_request", None, (None,), (1.0,)),
               HeadRecipe("unsafe", None, (None,), (), soft_and=("harmful_request", "refusal")),
               HeadRecipe("quality", None, (None,), (1.0,))]
    trained = train_heads(x, labels, crossed_folds(prompts, responses), recipes, prompts)
    by_name = {h.name: h for h in trained}
    unsafe = by_name["unsafe"]
    assert unsafe.soft_and == (by_name["harmful_request"], by_name["refusal"])
    logit = unsafe.logit(x)
    np.testing.assert_allclose(logit, np.minimum(by_name["harmful_request"].calibrated_logit(x),
                                                 -by_name["refusal"].calibrated_logit(x)))
    predicted = logit > 0
    truth = labels["unsafe"] > 0.5
    assert np.mean(predicted == truth) >= 0.9
    heads = [by_name[n] for n in HEAD_NAMES]
    layers = fuse_heads(heads)
    assert len(layers) == 2
    expected = np.stack([h.logit(x) for h in heads], axis=1)
    np.testing.assert_allclose(_relu_net(layers, x), expected, atol=1e-4)


def _head(name: str) -> TrainedHead:
    return TrainedHead(name=name, weight=np.zeros(1, np.float32), bias=0.0, l2=1.0, pca_dim=None,
                       platt_a=1.0, platt_b=0.0, threshold=0.5, n_train=0, cv=None)


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


def test_evaluate_applies_platt_before_the_threshold() -> None:
    shifted = TrainedHead(name="refusal", weight=np.zeros(1, np.float32), bias=0.0, l2=1.0,
                          pca_dim=None, platt_a=1.0, platt_b=-3.0, threshold=0.5, n_train=0,
                          cv=None)
    heads = [shifted, _head("unsafe"), _head("quality")]
    logits = np.array([[2.0, 0.0, 0.0], [4.0, 0.0, 0.0]])
    labels = {"refusal": np.array([1.0, 1.0]), "unsafe": np.array([0.0, 0.0]),
              "quality": np.array([np.nan, np.nan])}
    m = evaluate(heads, logits, labels, ["a", "b"])
    assert m.refusal.fnr == 0.5  # 2 - 3 < 0: missed; 4 - 3 > 0: caught


def test_pair_accuracy_counts_ties_as_half() -> None:
    acc, pairs = pair_accuracy(np.array([1.0, 1.0, 0.0, 2.0]), np.array([1.0, 0.0, 0.0, 1.0]),
                               ["a", "a", "a", "b"])
    assert pairs == 2 and acc == 0.75
