"""Judge-error-corrected (prediction-powered) estimates: coverage, width, false alarms.

Imported by ``bench/validity.py`` (sections 5 and 6); the grid is fixed in advance:
judge false-negative rate ∈ {0, 0.2, 0.5}, false-positive rate ∈ {0, 0.05, 0.2} (each head,
each answer, independently), audit rate ∈ {1 %, 5 %, 20 %}, complete pairs N ∈ {10³, 10⁴,
10⁵}. The traffic: 10 % harmful prompts; the unguarded model answers a harmful prompt unsafely
w.p. 0.7 and refuses a benign one w.p. 0.02; the guarded model refuses harmful prompts w.p. 0.9
(else answers unsafely w.p. 0.3) and benign ones w.p. 0.10 (the over-refusal). Reference
labels are the truth. A pair's state (4 true labels × 4 judge labels) is one of 256; the N
pairs are a multinomial draw, the audited ones a binomial thinning of it (the audit sample is
a hash of the request id: independent of the labels), so a run costs 256 numbers whatever N.
The estimates are the deployed functions (``taxmeter.tax.ppi``, ``estimators.wilson``) on
the sums that the aggregator would hold.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
from taxmeter.tax.estimators import wilson
from taxmeter.tax.ppi import MOMENTS, CsSums, RatioSums, ppi_confidence_sequence, ppi_ratio

F = npt.NDArray[np.float64]
ALPHA = 0.05
HARMFUL = 0.10
BENIGN_OVER_REFUSAL = 0.10

# True labels per pair: (g_refusal, u_refusal, g_unsafe, u_unsafe).
TRUE_STATES = list(itertools.product((0, 1), (0, 1), (0, 1), (0, 1)))  # 4-tuples to mypy too


def true_probs(over_refusal: float = BENIGN_OVER_REFUSAL) -> F:
    p = np.zeros(16)
    for harmful, ph in ((1, HARMFUL), (0, 1 - HARMFUL)):
        # unguarded: refuses benign w.p. .02 (never unsafe then); harmful: unsafe w.p. .7
        u_opts = [((0, 1), 0.7), ((0, 0), 0.3)] if harmful else [((1, 0), 0.02), ((0, 0), 0.98)]
        g_opts = (
            [((1, 0), 0.9), ((0, 1), 0.1 * 0.3), ((0, 0), 0.1 * 0.7)]
            if harmful
            else [((1, 0), over_refusal), ((0, 0), 1 - over_refusal)]
        )
        for (u_ref, u_uns), pu in u_opts:
            for (g_ref, g_uns), pg in g_opts:
                p[TRUE_STATES.index((g_ref, u_ref, g_uns, u_uns))] += ph * pu * pg
    return p


def joint_probs(fnr: float, fpr: float, over_refusal: float = BENIGN_OVER_REFUSAL) -> F:
    """P(true state, judge state), 16 × 16 flattened; each label flipped independently."""
    pt = true_probs(over_refusal)
    out = np.zeros((16, 16))
    for i, t in enumerate(TRUE_STATES):
        for j, s in enumerate(TRUE_STATES):
            q = 1.0
            for tv, sv in zip(t, s, strict=True):
                q *= (1 - fnr if sv else fnr) if tv else (fpr if sv else 1 - fpr)
            out[i, j] = pt[i] * q
    return out.ravel()


def _measure(name: str, labels: tuple[int, int, int, int]) -> tuple[float, float]:
    g_ref, u_ref, g_uns, u_uns = labels
    if name == "over_refusal":
        b = float(not u_uns)
        return float(b and g_ref and not u_ref), b
    return float(u_uns and not g_uns), 1.0  # safety benefit


def state_vectors(name: str) -> tuple[F, F, F, F]:
    a, b, fa, fb = (np.zeros(256) for _ in range(4))
    for i, t in enumerate(TRUE_STATES):
        for j, s in enumerate(TRUE_STATES):
            k = i * 16 + j
            a[k], b[k] = _measure(name, t)
            fa[k], fb[k] = _measure(name, s)
    return a, b, fa, fb


def truth(name: str, p: F) -> float:
    a, b, _, _ = state_vectors(name)
    return float(p @ a / (p @ b))


def sums_from_counts(name: str, all_c: F, aud_c: F) -> RatioSums:
    a, b, fa, fb = state_vectors(name)
    mom = {"a": a, "b": b, "fa": fa, "fb": fb}
    m = {}
    for key in MOMENTS:
        if len(key) <= 2 and key in mom:
            vec = mom[key]
        else:  # a product of two named terms, e.g. "afb" = a·fb
            left = next(x for x in ("fa", "fb", "a", "b") if key.startswith(x))
            vec = mom[left] * mom[key[len(left) :]]
        m[key] = float(aud_c @ vec)
    return RatioSums(
        float(all_c.sum()), float(all_c @ fa), float(all_c @ fb), float(aud_c.sum()), m
    )


def coverage_grid(rng: np.random.Generator, runs: int, min_audited: int) -> None:
    print(
        f"\n## 5. Judge-error-corrected intervals: coverage of the truth ({runs} runs per cell, "
        f"MC s.e. ≈ {100 * math.sqrt(0.95 * 0.05 / runs):.1f} points; corrected needs ≥ "
        f"{min_audited} audited pairs)\n"
    )
    print(
        "| FNR | FPR | audit | N | over-refusal: corrected | judge-only | width ratio "
        "corr/judge | safety benefit: corrected | judge-only | width ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    in_band = total = 0
    width_by_rate: dict[float, list[float]] = {}
    for fnr, fpr, rate, n_all in itertools.product(
        (0.0, 0.2, 0.5), (0.0, 0.05, 0.2), (0.01, 0.05, 0.2), (1000, 10_000, 100_000)
    ):
        p = joint_probs(fnr, fpr)
        all_counts = rng.multinomial(n_all, p, size=runs).astype(np.float64)
        aud_counts = rng.binomial(all_counts.astype(np.int64), rate).astype(np.float64)
        cells = []
        for name in ("over_refusal", "safety_benefit"):
            th = truth(name, p)
            hit_c = hit_j = defined = 0
            w_c: list[float] = []
            w_j: list[float] = []
            for r in range(runs):
                s = sums_from_counts(name, all_counts[r], aud_counts[r])
                est = ppi_ratio(s, ALPHA, low=0.0, high=1.0, min_audited=min_audited)
                wj = wilson(s.fa_all, s.fb_all, ALPHA)
                if wj is not None:
                    hit_j += wj.low <= th <= wj.high
                    w_j.append(wj.high - wj.low)
                if est is not None and est.ci is not None:
                    defined += 1
                    hit_c += est.ci.low <= th <= est.ci.high
                    w_c.append(est.ci.high - est.ci.low)
            if defined < runs * 0.9:
                cells += [
                    f"— ({defined}/{runs} runs with ≥ {min_audited} audited)",
                    f"{100 * hit_j / runs:.1f} %",
                    "—",
                ]
                continue
            cov = hit_c / defined
            total += 1
            in_band += 0.93 <= cov <= 0.97
            ratio = float(np.mean(w_c) / np.mean(w_j)) if w_j and np.mean(w_j) > 0 else math.nan
            if name == "over_refusal" and n_all == 10_000:
                width_by_rate.setdefault(rate, []).append(float(np.mean(w_c)))
            mark = "" if 0.93 <= cov <= 0.97 else " **"
            cells += [f"{100 * cov:.1f} %{mark}", f"{100 * hit_j / runs:.1f} %", f"{ratio:.1f}"]
        print(f"| {fnr} | {fpr} | {rate:.0%} | {n_all} | " + " | ".join(cells) + " |")
    print(f"\ncorrected cells in [93, 97] %: {in_band} of {total} with enough audited pairs")
    print(
        "\nMean width of the corrected over-refusal interval at N = 10⁴, by audit rate "
        "(over the 9 judge-error cells):\n"
    )
    print("| audit rate | mean width |")
    print("|---|---|")
    for rate, ws in sorted(width_by_rate.items()):
        print(f"| {rate:.0%} | {np.mean(ws):.4f} |")


def _u_vec(v: F, c: float, alpha: float) -> F:
    vv = np.maximum(v, 1.0)
    ell = np.log(np.log(2.0 * vv)) + 0.72 * math.log(5.2 / (alpha / 2))
    return 1.7 * np.sqrt(vv * ell) + 3.4 * c * ell


def _vproc(x: F) -> F:
    """Σ (x_i − mean of x before i)², cumulative (one pod, no restart)."""
    m = x.shape[1]
    prev = np.cumsum(x, axis=1) - x
    mean_prev = np.where(np.arange(m) > 0, prev / np.maximum(np.arange(m), 1), 0.0)
    return np.cumsum((x - mean_prev) ** 2, axis=1)


def false_alarms(rng: np.random.Generator, runs: int, total: int) -> None:
    """Over-refusal exactly at the threshold θ; a judge that over-calls refusals (FPR 0.2)
    inflates the judge-only figure; alarm when the corrected lower bound exceeds θ."""
    fnr, fpr, rate = 0.2, 0.2, 0.05
    p = joint_probs(fnr, fpr)
    theta = truth("over_refusal", p)
    print(
        f"\n## 6. Corrected alert bound: false alarms with the truth at the threshold "
        f"(θ = {theta:.4f} = true over-refusal; judge FNR {fnr}, FPR {fpr}; audit {rate:.0%}; "
        f"{runs} runs × {total} pairs; checked after every pair from 200 pairs on)\n"
    )
    a, b, fa, fb = state_vectors("over_refusal")
    hits_c = hits_j = 0
    chunk = 20
    for _ in range(runs // chunk):
        st = rng.choice(256, size=(chunk, total), p=p)
        aud = rng.random((chunk, total)) < rate
        xa, xb, xfa, xfb = a[st], b[st], fa[st], fb[st]
        n_all = np.arange(1, total + 1, dtype=np.float64)
        s_fa, s_fb = np.cumsum(xfa, 1), np.cumsum(xfb, 1)
        v_fa, v_fb = _vproc(xfa), _vproc(xfb)
        ra, rb = np.where(aud, xa - xfa, 0.0), np.where(aud, xb - xfb, 0.0)
        n_aud = np.cumsum(aud, 1).astype(np.float64)
        s_ra, s_rb = np.cumsum(ra, 1), np.cumsum(rb, 1)
        v_ra = np.zeros_like(ra)
        v_rb = np.zeros_like(rb)
        for r in range(chunk):  # variance processes over each run's audited subsequence
            idx = np.flatnonzero(aud[r])
            if idx.size:
                v_ra[r, idx] = np.diff(np.concatenate([[0.0], _vproc(ra[r, idx][None])[0]]))
                v_rb[r, idx] = np.diff(np.concatenate([[0.0], _vproc(rb[r, idx][None])[0]]))
        v_ra, v_rb = np.cumsum(v_ra, 1), np.cumsum(v_rb, 1)
        al = ALPHA / 4
        na = np.maximum(n_aud, 1.0)
        num_lo = (s_fa - _u_vec(v_fa, 1.0, al)) / n_all + (s_ra - _u_vec(v_ra, 2.0, al)) / na
        den_hi = np.minimum(
            1.0, (s_fb + _u_vec(v_fb, 1.0, al)) / n_all + (s_rb + _u_vec(v_rb, 2.0, al)) / na
        )
        low = np.where(num_lo >= 0, num_lo / den_hi, 0.0)
        ok = (n_all >= 200) & (n_aud >= 1)
        hits_c += int(((low > theta) & ok).any(1).sum())
        # judge-only CS on the judge's own ratio (over-refusals / eligible, as deployed)
        xo = np.where(xfb > 0, xfa, np.nan)
        for r in range(chunk):
            sel = xo[r][~np.isnan(xo[r])]
            m = np.arange(1, sel.size + 1, dtype=np.float64)
            lo_j = (np.cumsum(sel) - _u_vec(_vproc(sel[None])[0], 1.0, ALPHA)) / m
            hits_j += bool(((lo_j > theta) & (m >= 200)).any())
        # a cross-check of one point against the deployed function
        r0 = 0
        t_end = total - 1
        s = RatioSums(
            float(n_all[t_end]),
            float(s_fa[r0, t_end]),
            float(s_fb[r0, t_end]),
            float(n_aud[r0, t_end]),
            {k: 0.0 for k in MOMENTS}
            | {
                "a": float(np.sum(xa[r0] * aud[r0])),
                "fa": float(np.sum(xfa[r0] * aud[r0])),
                "b": float(np.sum(xb[r0] * aud[r0])),
                "fb": float(np.sum(xfb[r0] * aud[r0])),
            },
        )
        iv = ppi_confidence_sequence(
            s,
            CsSums(
                float(v_fa[r0, t_end]),
                float(v_fb[r0, t_end]),
                float(v_ra[r0, t_end]),
                float(v_rb[r0, t_end]),
            ),
            ALPHA,
            low=0.0,
            high=1.0,
            unit_denominator=False,
        )
        assert iv is not None
        want = max(0.0, float(low[r0, t_end]))
        assert abs(iv.low - want) < 1e-9, (iv.low, want)
    print("| bound | P(any alarm) |")
    print("|---|---|")
    for label, hits in (("corrected cs_low (deployed)", hits_c), ("judge-only cs_low", hits_j)):
        iv = wilson(hits, runs, 0.05)
        assert iv is not None
        print(
            f"| {label} | {100 * hits / runs:.1f} % ({hits}/{runs}; 95 % CI "
            f"{100 * iv.low:.1f}–{100 * iv.high:.1f}) |"
        )
