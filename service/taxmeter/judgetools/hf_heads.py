"""Which label of an imported classifier becomes which judge head (``--head``,
``--threshold``, and the default when the label names say it plainly)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from taxmeter.judgetools.hf_checkpoint import CheckpointError

__all__ = ["ROLES", "HeadChoice", "choose_heads"]

ROLES = ("refusal", "unsafe", "quality")
_ROLE_WORDS: Mapping[str, frozenset[str]] = {
    "refusal": frozenset(
        {
            "refusal",
            "refuse",
            "refused",
            "refusing",
            "rejection",
            "reject",
            "rejected",
            "decline",
            "declined",
        }
    ),
    "unsafe": frozenset({"unsafe", "harmful", "toxic", "toxicity"}),
}
"""Label words that map a label to a head by default (see :func:`choose_heads`)."""
_NEGATIONS = frozenset({"not", "non", "no"})


@dataclass(frozen=True, slots=True)
class HeadChoice:
    """One head of the imported judge: label ``label_index``'s probability."""

    name: str
    label_index: int
    threshold: float = 0.5

    @property
    def role(self) -> str:
        return self.name if self.name in ROLES else "other"


def _label_index(judge: str, labels: Sequence[str], head: str, wanted: str) -> int:
    if wanted in labels:
        return labels.index(wanted)
    folded = [lab.casefold() for lab in labels]
    if folded.count(wanted.casefold()) == 1:
        return folded.index(wanted.casefold())
    if wanted.isdigit() and int(wanted) < len(labels):
        return int(wanted)
    raise CheckpointError(
        judge, f"unknown label {wanted!r} for head {head!r} (labels: {_label_list(labels)})"
    )


def _label_list(labels: Sequence[str]) -> str:
    return ", ".join(f"{i}={lab}" for i, lab in enumerate(labels))


def _default_heads(judge: str, labels: Sequence[str]) -> list[tuple[str, int]]:
    """A head per role whose words name exactly one label (e.g. ``REJECTION`` → refusal),
    never a negated one (``not_refusal``); an error listing the labels when none does."""
    found: list[tuple[str, int]] = []
    for role, words in _ROLE_WORDS.items():
        hits = []
        for i, lab in enumerate(labels):
            tokens = set(re.split(r"[^a-z0-9]+", lab.casefold()))
            if tokens & words and not tokens & _NEGATIONS:
                hits.append(i)
        if len(hits) == 1:
            found.append((role, hits[0]))
    if not found:
        raise CheckpointError(
            judge,
            f"cannot tell which label is which head (labels: {_label_list(labels)}); "
            "pass --head NAME=LABEL, e.g. --head refusal=" + labels[-1],
        )
    return found


def choose_heads(
    judge: str,
    labels: Sequence[str],
    heads: Sequence[tuple[str, str]],
    thresholds: Mapping[str, float],
) -> list[HeadChoice]:
    """The heads from ``--head`` (or the default), with ``--threshold`` applied."""
    pairs = (
        [(name, _label_index(judge, labels, name, lab)) for name, lab in heads]
        if heads
        else _default_heads(judge, labels)
    )
    names = [n for n, _ in pairs]
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
            raise CheckpointError(
                judge, f"head name {name!r} may hold only letters, digits, '_' and '-'"
            )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CheckpointError(judge, f"head {dupes[0]!r} is mapped twice")
    unknown = sorted(set(thresholds) - set(names))
    if unknown:
        raise CheckpointError(
            judge,
            f"--threshold names head {unknown[0]!r}, which is not "
            f"imported (heads: {', '.join(names)})",
        )
    for name, value in thresholds.items():
        if not 0.0 <= value <= 1.0:
            raise CheckpointError(judge, f"threshold {value} for head {name!r} is not in [0, 1]")
    return [HeadChoice(n, i, thresholds.get(n, 0.5)) for n, i in pairs]
