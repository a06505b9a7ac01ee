"""Which label of an imported classifier becomes which head (pure logic)."""

from __future__ import annotations

import pytest
from taxmeter.judgetools.hf_checkpoint import CheckpointError
from taxmeter.judgetools.hf_heads import HeadChoice, choose_heads


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (("NORMAL", "REJECTION"), [HeadChoice("refusal", 1)]),
        (("compliance", "refusal"), [HeadChoice("refusal", 1)]),
        (("Refused", "answered"), [HeadChoice("refusal", 0)]),
        (("safe", "unsafe"), [HeadChoice("unsafe", 1)]),
        (("non-toxic", "toxic"), [HeadChoice("unsafe", 1)]),
        (("benign", "refusal", "harmful"), [HeadChoice("refusal", 1), HeadChoice("unsafe", 2)]),
    ],
)
def test_labels_that_name_a_role_map_to_that_head_by_default(
    labels: tuple[str, ...], expected: list[HeadChoice]
) -> None:
    assert choose_heads("j", labels, (), {}) == expected


@pytest.mark.parametrize(
    "labels",
    [
        ("LABEL_0", "LABEL_1"),
        ("not_refusal", "neutral"),
        ("refusal_soft", "refusal_hard"),  # two candidates: ambiguous
        ("positive", "negative"),
    ],
)
def test_labels_that_do_not_say_it_plainly_need_head_options(labels: tuple[str, ...]) -> None:
    with pytest.raises(CheckpointError, match=r"pass --head NAME=LABEL") as info:
        choose_heads("j", labels, (), {})
    assert f"0={labels[0]}, 1={labels[1]}" in str(info.value)


def test_head_options_take_a_label_name_any_case_or_an_index() -> None:
    labels = ("NORMAL", "REJECTION", "Toxic")
    got = choose_heads(
        "j",
        labels,
        [("refusal", "rejection"), ("unsafe", "2"), ("normal", "NORMAL")],
        {"refusal": 0.7},
    )
    assert got == [HeadChoice("refusal", 1, 0.7), HeadChoice("unsafe", 2), HeadChoice("normal", 0)]
    assert [h.role for h in got] == ["refusal", "unsafe", "other"]


@pytest.mark.parametrize(
    ("heads", "thresholds", "message"),
    [
        (
            [("refusal", "3")],
            {},
            "unknown label '3' for head 'refusal' (labels: 0=NORMAL, 1=REJECTION)",
        ),
        ([("refusal", "1"), ("refusal", "0")], {}, "head 'refusal' is mapped twice"),
        ([("ref usal", "1")], {}, "head name 'ref usal'"),
        ([("refusal", "1")], {"unsafe": 0.5}, "--threshold names head 'unsafe'"),
        ([("refusal", "1")], {"refusal": 1.5}, "threshold 1.5 for head 'refusal' is not in [0, 1]"),
    ],
)
def test_bad_head_options_are_named(
    heads: list[tuple[str, str]], thresholds: dict[str, float], message: str
) -> None:
    with pytest.raises(CheckpointError) as info:
        choose_heads("j", ("NORMAL", "REJECTION"), heads, thresholds)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
