"""The report's sentences: the headline, the disclosure (what was compared, on what, how, and
what the numbers mean and do not mean) and the paragraphs of the judge-error-corrected section.
"""

from __future__ import annotations

from taxmeter.replay.render.cells import Report, figure, first_quality, iv_num, iv_pct, num, pct


def headline(report: Report) -> list[str]:
    o = report["overall"]
    q = first_quality(o)
    c = report["counts"]
    return [
        f"{o['pairs']} complete pairs of {c['prompts']} prompts "
        f"({c['failed']} failed, {c['shed']} not judged); {o['eligible']} eligible "
        "(the unguarded answer was judged safe).",
        f"Quality tax Δ ({q['head']}): {num(q['point'])}{iv_num(q['ci'])}; relative "
        f"{pct(q['relative'])}{iv_pct(q['relative_ci'])}.",
        f"Over-refusal: {pct(o['over_refusal']['point'])}{iv_pct(o['over_refusal']['ci'])} of "
        f"eligible pairs. Safety benefit: {pct(o['safety_benefit']['point'])}"
        f"{iv_pct(o['safety_benefit']['ci'])} of complete pairs.",
        f"Latency p50 guarded/unguarded: {num(o['latency']['p50_ratio'], '.2f')}×; "
        f"output tokens guarded/unguarded: {num(o['token_overhead'], '.2f')}×.",
        _audit_headline(report),
    ]


def _audit_headline(report: Report) -> str:
    a = report["overall"]["audit"]
    if a is None:
        return (
            "Judge-only figures: no reference labels were given (see “Judge-error-corrected "
            "figures”)."
        )
    if not a["available"]:
        return (
            f"Judge-only figures: {a['audited']} audited pairs, fewer than the "
            f"{a['min_audited']} the corrected figures need."
        )
    m = {x["measure"]: x for x in a["measures"]}
    q = first_quality(report["overall"])["head"]
    return (
        f"Corrected for the judges' error on {a['audited']} audited pairs: over-refusal "
        f"{figure(m['over_refusal'])}, safety benefit {figure(m['safety_benefit'])}, "
        f"Δ {figure(m[f'delta:{q}'])}."
    )


def disclosure(report: Report) -> list[tuple[str, str]]:
    """Plain-language paragraphs: what was compared, on what, how, and what it means."""
    run = report["run"]
    arms = run["arms"]
    c = report["counts"]
    o = report["overall"]
    cats = ", ".join(g["name"] for g in report["categories"]) or "none given"
    judges = []
    for j in report["judges"]:
        errs = []
        for h in j["heads"]:
            e = h["measured_error"]
            if e is not None:
                errs.append(
                    f"{h['role'] or h['key']}: false positives {e['fpr']:.1%}, "
                    f"false negatives {e['fnr']:.1%} (on {e['n']} labelled examples)"
                )
        measured = (
            ("; measured error " + "; ".join(errs))
            if errs
            else "; no measured error rates were found for it (no build report)"
        )
        judges.append(f"{j['name']} version {j['version']}{measured}")
    s = report["settings"]
    return [
        (
            "What was compared",
            "The same prompts were sent to two endpoints: the guarded arm "
            f"({arms['guarded']['base_url']}, model "
            f"{arms['guarded']['model'] or 'as in the prompt'})"
            f" and the unguarded arm ({arms['unguarded']['base_url']}, model "
            f"{arms['unguarded']['model'] or 'as in the prompt'}). The guarded arm is the one with "
            "safety alignment or a guardrail; the unguarded arm is the same capability without it.",
        ),
        (
            "On what",
            f"{c['prompts']} prompts from {run['prompts_source']} (categories: {cats}). "
            f"{o['pairs']} got an answer from both arms; {c['failed']} did not (an arm failed "
            f"after retries) and {c['shed']} could not be judged: they are left out of every "
            "number. A prompt set that is not a fair sample of your traffic gives numbers that are "
            "not about your traffic.",
        ),
        (
            "How it was scored",
            f"Every answer was scored by automatic judges: {'; '.join(judges)}. "
            "The judge-only numbers measure what these judges measure; their errors are part of "
            "every one of them (a judge that misses refusals understates over-refusal). "
            + _audit_disclosure(report),
        ),
        (
            "What the numbers mean",
            "Quality tax Δ is the average, over pairs where the unguarded "
            "answer was judged safe, of the unguarded answer's quality score minus the guarded "
            "one's "
            "(scores are probabilities in 0..1 that an answer is acceptable); positive means the "
            "guard costs quality. The relative tax divides Δ by the unguarded arm's mean "
            "quality; it "
            "depends on the judge's scale and is for display. Over-refusal is the share of those "
            "pairs where only the guarded answer is a refusal; safety benefit the share of all "
            "pairs where the unguarded answer was judged unsafe and the guarded one safe. Win/tie/"
            f"loss count pairs where the guarded answer scored better, within ±{s['tie_epsilon']}, "
            "or worse.",
        ),
        (
            "What they do not mean",
            f"Intervals are {1 - s['alpha']:.0%} intervals for this one look at this data (Wilson "
            "for shares, a paired interval for Δ). The judge-only ones cover sampling noise only: "
            "not judge error, not prompts unlike these, not endpoints that change later. The "
            "corrected ones also cover the judges' error, measured against the reference labels: "
            "they are about what the labellers would have said of every pair, and hold only if the "
            "labelled pairs were picked at random (not for being interesting or hard). The noise "
            "floor (how often "
            "the same arm, asked twice, flips between refusing and answering) is shown beside the "
            "tax, never subtracted from it. Latency is compared only on pairs that both arms "
            "answered "
            "at the same time, and reflects the load and network of this replay, not production.",
        ),
    ]


def _audit_disclosure(report: Report) -> str:
    a = report["audit"]
    o = report["overall"]["audit"]
    if a["mode"] == "none" or o is None:
        return (
            "No person or auditor model checked the judges on these answers: no "
            "judge-error-corrected figures (give reference labels with --labels)."
        )
    who = (
        f"people's labels from {a['labels_source']}"
        if a["mode"] == "labels"
        else f"an auditor model's labels on a random {a['sample_rate']:.0%} of the pairs"
    )
    text = (
        f"On {o['audited']} pairs the judges were checked against reference labels ({who}); "
        "the corrected figures combine the judges' numbers on every pair with their measured "
        "error on the checked ones (prediction-powered inference)."
    )
    if a["mode"] == "auditor" and a["selected"] is not None and a["selected"] > o["audited"]:
        text += (
            f" {a['selected'] - o['audited']} of the {a['selected']} sampled pairs got no "
            "label (over audit.max_per_second or the auditor's token budget, or the "
            "auditor failed) and count judge-only."
        )
    if not o["available"]:
        text += (
            f" That is fewer than the {o['min_audited']} checked pairs the corrected figures "
            "need, so only the judge-only figures are given."
        )
    return text


def how_to_label() -> str:
    return (
        "The figures above are judge-only: no reference labels were given, so the judges' "
        "own error is in every number and no interval covers it. To correct them, label a "
        "random sample of pairs: rerun with --record DIR --export-audit FILE (the sample is "
        "the configuration's audit.rate, picked by a hash of the prompt index), fill in each "
        "line's label (refusal, unsafe: true/false; quality: 0..1, per arm; the format of "
        "taxmeter audit import), then run the command again with --labels FILE in place of "
        "--export-audit (nothing is sent again). See docs/replay.md."
    )


def audit_intro(report: Report) -> str | None:
    """The paragraph above the corrected tables, or None when there are none (judge-only)."""
    a = report["audit"]
    if report["overall"]["audit"] is None:
        return None
    t = a["labels"]
    text = _audit_disclosure(report)
    if t is not None:
        text += (
            f" Label lines: {t['imported']} used, {t['unknown_pair']} for no scored pair, "
            f"{t['invalid']} invalid (left out)."
        )
    return text + (
        " The corrected interval includes the judges' measured error (its "
        "variance), so it is usually wider than the judge-only one; λ is the weight "
        "given to the judges (1: judges plus their mean error; 0: the labels alone)."
    )
