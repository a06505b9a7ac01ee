"""Builder versions 4-5: casual declines and compliant answers in the same register."""

from __future__ import annotations

import random
import re
from collections import Counter

from taxmeter.judgetools import corpus_casual as casual
from taxmeter.judgetools.examples import (
    SEED,
    casual_compliant,
    casual_decline,
    casual_examples,
    generate_training_examples,
)
from taxmeter.judgetools.probe_casual import probe_examples

KEYWORDS = re.compile(r"\b(sorry|can't|cannot|unable|policy|policies|as an ai|apolog)",
                      re.IGNORECASE)


def test_casual_declines_avoid_the_stock_refusal_keywords() -> None:
    rng = random.Random(1)
    texts = [casual_decline(rng, "picking a lock", "I can explain how locks are rated.")
             for _ in range(400)]
    # Partial declines carry the area's safe alternative (which may say "I can"); the decline
    # itself never leans on the keywords.
    declines = [t.replace("I can explain how locks are rated.", "") for t in texts]
    assert not [t for t in declines if KEYWORDS.search(t)]
    assert len(set(texts)) > 150


def test_casual_decline_never_leaves_the_topic_slot_unfilled() -> None:
    rng = random.Random(2)
    for _ in range(300):
        text = casual_decline(rng, "that", None)
        assert "{" not in text and "}" not in text
        assert text[:1].isupper() or not text[:1].isalpha()


def test_casual_compliant_keeps_the_whole_answer() -> None:
    answer = "Whisk the eggs, add milk, and cook on low heat while stirring."
    rng = random.Random(3)
    for _ in range(100):
        text = casual_compliant(rng, answer)
        assert answer[1:] in text
        assert text != answer


def test_casual_family_is_labelled_decline_or_compliant_and_deterministic() -> None:
    first = list(casual_examples(random.Random(SEED + 4)))
    again = list(casual_examples(random.Random(SEED + 4)))
    assert first == again
    declines = [e for e in first if e["refusal"] == 1]
    compliant = [e for e in first if e["refusal"] == 0]
    assert len(declines) >= 500 and len(compliant) >= 250
    assert all(e["unsafe"] == 0 for e in first)
    # Over-refusals of benign requests are poor answers; casual compliant answers are good.
    assert all(e["quality"] in (0, None) for e in declines)
    assert all(e["quality"] == 1 for e in compliant)
    # Hard negatives share the register's words.
    shared = ("stay away from", "skip", "let's leave", "I'll pass on", "a miss",
              "steer clear", "keep out of")
    assert sum(any(w.lower() in e["response"].lower() for w in shared) for e in compliant) >= 40


def test_training_set_ends_with_the_casual_family_and_keeps_the_older_lines() -> None:
    train = generate_training_examples()
    tail = {(e["prompt"], e["response"]) for e in casual_examples(random.Random(SEED + 4))}
    older = [e for e in train if (e["prompt"], e["response"]) not in tail]
    assert len(older) == 4100
    assert train[:4100] == older


def test_casual_parts_have_no_stock_keywords() -> None:
    parts = (casual.CASUAL_CORES + casual.CASUAL_ONE_LINERS + casual.CASUAL_FOLLOW_UPS
             + casual.CASUAL_REFERRALS + casual.CASUAL_TOPIC_CHANGES + casual.CASUAL_OPENERS)
    assert not [p for p in parts if KEYWORDS.search(p)]


def test_casual_compliant_wrappers_are_varied_not_a_few_repeated_templates() -> None:
    # Version 5: the hard negatives are composed; no whole wrapper (everything around the
    # answer) sits on more than a handful of the training answers.
    compliant = [e for e in casual_examples(random.Random(SEED + 4)) if e["refusal"] == 0]
    answer = "Whisk the eggs, add milk, and cook on low heat while stirring."
    rng = random.Random(SEED)
    wrappers = Counter(casual_compliant(rng, answer).replace(answer[1:], "_")
                       for _ in range(len(compliant)))
    assert len(compliant) >= 600
    assert max(wrappers.values()) <= 6
    assert len(wrappers) >= 400


def test_fp_probe_is_benign_casual_and_held_out_of_training() -> None:
    probe = probe_examples()
    assert len(probe) == 150
    assert len({str(e["response"]) for e in probe}) == 150
    assert all(e["refusal"] == 0 and e["unsafe"] == 0 and e["quality"] == 1 for e in probe)
    train = generate_training_examples()
    train_texts = {e["prompt"] for e in train} | {e["response"] for e in train}
    assert not [e for e in probe if e["prompt"] in train_texts or e["response"] in train_texts]
