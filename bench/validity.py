"""Validity of taxmeter's intervals and alert bounds, by simulation with known truth.

    .venv/bin/python bench/validity.py [--quick]

Grid fixed in advance (see docs/statistics.md):

1. Coverage of the 95 % fixed-n intervals, n ∈ {30, 100, 1000}, 4,000 runs per cell
   (Monte-Carlo s.e. ≈ 0.34 points at 95 %). Δ: scenarios A (clipped scores, 60 % exact
   ties), B (rare ±1 differences among exact ties: over-refusal-like), C (clipped normal
   scores, correlated arms), D (stress: d ∈ {0, 1}, 3 % ones). Plain t, the previous
   interval (t + Wilson tie floor) and the deployed one side by side; D's coverage also
   computed exactly (it is binomial). Proportions: Wilson at p ∈ {0.02, 0.10}.
2. Time-uniform miscoverage of the confidence sequence, cumulative, 10⁵ pairs, 200 runs.
3. False-alarm rate of the alert as deployed: fleet of 3 pods (round robin), each pod
   restarting ~5 times per stream (running means reset), sliding window of N_W pairs,
   alarm when n_W ≥ 200 and cs_low > θ, checked after every pair for 10⁵ pairs, true Δ = θ
   = 0.03; 200 runs. Next to it the fixed-n interval (ci_low > θ) checked the same way.
4. Detection delay: Δ moves 0.03 → 0.10 after 10⁴ stable pairs; median and p90 pairs to
   the first alarm; 400 runs.
5. Judge-error-corrected (prediction-powered) intervals for over-refusal and safety benefit:
   coverage next to the judge-only intervals', and width by audit rate, on the grid judge
   FNR × FPR × audit rate × N (``bench/validity_ppi.py``); 400 runs per cell.
6. The corrected alert bound's false-alarm rate with the truth at the threshold, next to the
   judge-only bound's; 200 runs × 2·10⁴ pairs.

All estimators are vectorised copies of the deployed code, cross-checked against it first.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import numpy.typing as npt
import validity_ppi
from taxmeter.tax.cs import boundary
from taxmeter.tax.estimators import (
    SMALL_COUNT,
    paired_mean_interval,
    poisson_lower,
    t_quantile,
    wilson,
    z_quantile,
)

F = npt.NDArray[np.float64]
ALPHA = 0.05
Z = z_quantile(1 - ALPHA / 2)


# -- scenarios -------------------------------------------------------------------------------


def _mix(rng: np.random.Generator, shape: tuple[int, ...], p1: float, p0: float) -> F:
    u = rng.random(shape)
    x = rng.beta(4.0, 2.0, shape)
    return np.where(u < p1, 1.0, np.where(u < p1 + p0, 0.0, x))


def scenario(name: str, rng: np.random.Generator, shape: tuple[int, ...]) -> F:
    if name == "A":  # clipped mixture scores, 60 % exact ties
        qu = _mix(rng, shape, 0.45, 0.10)
        qg = np.where(rng.random(shape) < 0.6, qu, _mix(rng, shape, 0.38, 0.12))
        return qu - qg
    if name == "B":  # rare ±1 (over-refusal-like) among exact ties, small jitter
        u = rng.random(shape)
        d = np.where(u < 0.06, 1.0, np.where(u < 0.08, -1.0, 0.0))
        jitter = (u >= 0.08) & (rng.random(shape) < 0.07)
        return np.where(jitter, np.clip(rng.normal(0, 0.1, shape), -1, 1), d)
    if name == "C":  # clipped normal scores, strongly correlated arms
        qu = np.clip(rng.normal(0.8, 0.3, shape), 0, 1)
        return qu - np.clip(qu - 0.03 + rng.normal(0, 0.1, shape), 0, 1)
    if name == "D":  # stress: binary differences, 3 % ones
        return (rng.random(shape) < 0.03).astype(np.float64)
    if name == "E":  # continuous scores, no exact ties (issue 10's finding on the floor)
        return np.clip(rng.normal(0.03, 0.1, shape), -1.0, 1.0)
    raise ValueError(name)


# Stream for the alert checks: E[d] = 0.4·(mean(q_u) − mean(q_g)) exactly (ties 60 %).
# q_u: 1 w.p. .40, 0 w.p. .10, Beta(4,2) w.p. .50 → mean 0.73333.
STREAM = {0.03: (0.35, 0.1875), 0.10: (0.25, 0.40)}  # q_g's (P[1], P[0]) for E[d]


def stream_d(rng: np.random.Generator, shape: tuple[int, int], delta: float) -> F:
    qu = _mix(rng, shape, 0.40, 0.10)
    p1, p0 = STREAM[delta]
    return qu - np.where(rng.random(shape) < 0.6, qu, _mix(rng, shape, p1, p0))


# -- vectorised copies of the deployed estimators ---------------------------------------------


def tango_vec(n: int, b: F, c: F) -> tuple[F, F]:
    """Tango's score interval for p₊ − p₋ (vectorised bisection, as the deployed code)."""

    def score(b: F, c: F, dl: F) -> F:
        a2 = 2.0 * n
        bb = -b - c + (2.0 * n - b + c) * dl
        cc = -c * dl * (1.0 - dl)
        disc = np.sqrt(np.maximum(bb * bb - 4.0 * a2 * cc, 0.0))
        q = np.where(bb > 0, -2.0 * cc / np.where(bb > 0, bb + disc, 1.0), (disc - bb) / (2 * a2))
        var = n * (2.0 * q + dl * (1.0 - dl))
        num = b - c - n * dl
        safe = np.where(var > 0, var, 1.0)
        return np.where(
            num == 0, 0.0, np.where(var > 0, num / np.sqrt(safe), np.copysign(np.inf, num))
        )

    def z_of(dl: F) -> F:  # symmetric: Z_{b,c}(δ) = −Z_{c,b}(−δ)
        return np.where(dl < 0, -score(c, b, -dl), score(b, c, np.abs(dl)))

    est = (b - c) / n
    lo_a, lo_b = -np.ones_like(est), est.copy()
    hi_a, hi_b = est.copy(), np.ones_like(est)
    for _ in range(45):
        m = 0.5 * (lo_a + lo_b)
        r = z_of(m) > Z
        lo_a, lo_b = np.where(r, m, lo_a), np.where(r, lo_b, m)
        m = 0.5 * (hi_a + hi_b)
        r = z_of(m) < -Z
        hi_a, hi_b = np.where(r, hi_a, m), np.where(r, m, hi_b)
    low = np.where(z_of(-np.ones_like(est)) <= Z, -1.0, 0.5 * (lo_a + lo_b))
    high = np.where(z_of(np.ones_like(est)) >= -Z, 1.0, 0.5 * (hi_a + hi_b))
    return np.maximum(-1.0, np.minimum(low, est)), np.minimum(1.0, np.maximum(high, est))


def deployed_interval(n: int, s1: F, s2: F, nontie: F, s2nt: F) -> tuple[F, F]:
    """Tango when every d ∈ {−1, 0, 1}, else t with the z²/2 pseudo-non-tie floor."""
    var = np.maximum(0.0, (s2 - s1 * s1 / n) / (n - 1))
    m2 = (s2nt + 1.0) / (nontie + 1.0)
    tie_share = (np.maximum(0.0, n - nontie) + 1.0) / (n + 1.0)
    var = np.maximum(var, Z * Z * m2 / (2 * n) * tie_share)
    half = t_quantile(1 - ALPHA / 2, n - 1) * np.sqrt(var / n)
    mean = s1 / n
    lo, hi = np.maximum(-1.0, mean - half), np.minimum(1.0, mean + half)
    tol = 1e-9 + 1e-12 * n
    tern = (np.abs(s2nt - nontie) <= tol) & (np.abs(s2 - s2nt) <= tol)
    b = np.round((nontie + s1) / 2.0)
    tl, th = tango_vec(n, b, nontie - b)
    return np.where(tern, tl, lo), np.where(tern, th, hi)


def tie_floor_interval(n: int, s1: F, s2: F, nontie: F, s2nt: F) -> tuple[F, F]:
    """The interval deployed before: t with the variance floored at (p_hi − p̂)·m2."""
    var = np.maximum(0.0, (s2 - s1 * s1 / n) / (n - 1))
    p = nontie / n
    zn = Z * Z / n
    phi = np.minimum(1.0, (p + zn / 2 + Z * np.sqrt(p * (1 - p) / n + zn / (4 * n))) / (1 + zn))
    m2 = (s2nt + 1.0) / (nontie + 1.0)
    var = np.maximum(var, (phi - p) * m2)
    half = t_quantile(1 - ALPHA / 2, n - 1) * np.sqrt(var / n)
    mean = s1 / n
    return np.maximum(-1.0, mean - half), np.minimum(1.0, mean + half)


def exact_coverage_d(n: int, p: float) -> float:
    """Scenario D is binomial: its coverage at the true Δ = p, exactly (no Monte-Carlo)."""
    b = np.arange(n + 1, dtype=np.float64)
    lo, hi = deployed_interval(n, b, b, b, b)
    pmf = np.array([math.comb(n, int(k)) * p**k * (1 - p) ** (n - k) for k in b])
    return float(np.sum(pmf * ((lo <= p) & (p <= hi))))


def plain_t(n: int, s1: F, s2: F) -> tuple[F, F]:
    var = np.maximum(0.0, (s2 - s1 * s1 / n) / (n - 1))
    half = t_quantile(1 - ALPHA / 2, n - 1) * np.sqrt(var / n)
    return s1 / n - half, s1 / n + half


def wilson_vec(k: F, n: float, *, corrected: bool = True) -> tuple[F, F]:
    """Wilson; with ``corrected`` the deployed small-count (Poisson) bounds for k, n−k ≤ 3."""
    p = k / n
    zn = Z * Z / n
    c = (p + zn / 2) / (1 + zn)
    h = Z * np.sqrt(p * (1 - p) / n + zn / (4 * n)) / (1 + zn)
    lo, hi = np.maximum(0.0, c - h), np.minimum(1.0, c + h)
    if corrected:
        for x in range(1, SMALL_COUNT + 1):
            if x < n:
                pl = poisson_lower(x, ALPHA) / n
                lo = np.where(k == x, np.minimum(lo, pl), lo)
                hi = np.where(n - k == x, np.maximum(hi, 1.0 - pl), hi)
    return lo, hi


def u_vec(v: F, c: float) -> F:
    vv = np.maximum(v, 1.0)
    ell = np.log(np.log(2.0 * vv)) + 0.72 * math.log(5.2 / (ALPHA / 2))
    return 1.7 * np.sqrt(vv * ell) + 3.4 * c * ell


def cross_check(rng: np.random.Generator) -> None:
    for n, name in ((2, "B"), (30, "B"), (1000, "B"), (2, "D"), (30, "D"), (100, "D")):
        d = scenario(name, rng, (5, n))
        if name == "D":  # ternary with both signs, and one all-tie sample
            d = d - (rng.random((5, n)) < 0.02)
            d[0] = 0.0
        nt = np.abs(d) > 0.02
        lo, hi = deployed_interval(
            n, d.sum(1), (d * d).sum(1), nt.sum(1).astype(float), (d * d * nt).sum(1)
        )
        for r in range(5):
            iv = paired_mean_interval(
                n,
                float(d[r].sum()),
                float((d[r] ** 2).sum()),
                float(nt[r].sum()),
                float((d[r] ** 2 * nt[r]).sum()),
                ALPHA,
            )
            assert iv is not None
            assert abs(iv.low - lo[r]) < 1e-8 and abs(iv.high - hi[r]) < 1e-8, (n, r, iv)
        w = wilson(min(3, n), n, ALPHA)
        wl, wh = wilson_vec(np.array([float(min(3, n))]), n)
        assert w is not None and abs(w.low - wl[0]) < 1e-12 and abs(w.high - wh[0]) < 1e-12
    assert abs(float(u_vec(np.array([123.0]), 2.0)[0]) - boundary(123.0, 2.0, ALPHA)) < 1e-9


# -- 1. coverage ------------------------------------------------------------------------------


def coverage(rng: np.random.Generator, runs: int) -> None:
    print(
        f"\n## 1. Coverage of 95 % intervals ({runs} runs per cell; MC s.e. ≈ "
        f"{100 * math.sqrt(0.95 * 0.05 / runs):.2f} points)\n"
    )
    print(
        "| Δ scenario | true Δ | n | plain t | before (t + Wilson tie floor) | deployed | "
        "deployed, exact | in [93, 97]? |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in "ABCDE":
        truth = float(np.mean([scenario(name, rng, (1_000_000,)).mean() for _ in range(4)]))
        for n in (15, 30, 100) if name == "E" else (30, 100, 1000):
            d = scenario(name, rng, (runs, n))
            s1, s2 = d.sum(1), (d * d).sum(1)
            nt = np.abs(d) > 0.02
            tl, th = plain_t(n, s1, s2)
            k, s2nt = nt.sum(1).astype(float), (d * d * nt).sum(1)
            fl, fh = tie_floor_interval(n, s1, s2, k, s2nt)
            dl, dh = deployed_interval(n, s1, s2, k, s2nt)
            ct = float(np.mean((tl <= truth) & (truth <= th)))
            cf = float(np.mean((fl <= truth) & (truth <= fh)))
            cd = float(np.mean((dl <= truth) & (truth <= dh)))
            # D is binomial (Δ = 0.03 exactly): its coverage is computed exactly, no MC noise.
            exact = exact_coverage_d(n, 0.03) if name == "D" else None
            judged = cd if exact is None else exact
            ok = "yes" if 0.93 <= judged <= 0.97 else "**no**"
            label = name + {"D": " (stress)", "E": " (no ties)"}.get(name, "")
            ex = "—" if exact is None else f"{100 * exact:.2f} %"
            print(
                f"| {label} | {truth:.4f} | {n} | {100 * ct:.1f} % | {100 * cf:.1f} % | "
                f"{100 * cd:.1f} % | {ex} | {ok} |"
            )
    off_grid(rng, runs)
    print(
        "\n| proportion | n | Wilson + small-count (deployed), exact | plain Wilson, exact | "
        "in [93, 97]? |"
    )
    print("|---|---|---|---|---|")
    cells = [(p, n) for p in (0.02, 0.10) for n in (30, 100, 1000)]
    cells += [(0.002, 50), (0.01, 50), (0.05, 20)]  # n·p ≲ 1 (issue 10)
    for p, n in cells:
        k = np.arange(n + 1, dtype=np.float64)
        pmf = np.array([math.comb(n, int(x)) * p**x * (1 - p) ** (n - x) for x in k])
        covs = []
        for corrected in (True, False):
            lo, hi = wilson_vec(k, n, corrected=corrected)
            covs.append(float(np.sum(pmf * ((lo <= p) & (p <= hi)))))
        ok = "yes" if 0.93 <= covs[0] <= 0.97 else ("≥ nominal" if covs[0] >= 0.95 else "**no**")
        print(f"| p = {p} | {n} | {100 * covs[0]:.2f} % | {100 * covs[1]:.2f} % | {ok} |")


def off_grid(rng: np.random.Generator, runs: int) -> None:
    """Not part of the fixed grid: pure ternary d (p₊, p₋), to show what a D-tuned rule costs.

    "one-sign Wilson" is the rule that would put D at n = 30 in the band: when the sample
    has only +1s (or only −1s), take Wilson for that proportion, as if the other sign could
    not occur; Tango otherwise.
    """
    print("\nOutside the grid (pure ternary d; coverage, then misses below/above the truth):\n")
    print("| p₊ / p₋ | n | deployed (Tango) | one-sign Wilson (rejected) |")
    print("|---|---|---|---|")
    for pp, pm in ((0.06, 0.02), (0.03, 0.03), (0.10, 0.0)):
        for n in (30, 100):
            u = rng.random((runs, n))
            b = (u < pp).sum(1).astype(np.float64)
            c = ((u >= pp) & (u < pp + pm)).sum(1).astype(np.float64)
            tl, th = tango_vec(n, b, c)
            wl, wh = wilson_vec(b, n)
            vl, vh = wilson_vec(c, n)
            one_p, one_m = (c == 0) & (b > 0), (b == 0) & (c > 0)
            al = np.where(one_p, wl, np.where(one_m, -vh, tl))
            ah = np.where(one_p, wh, np.where(one_m, -vl, th))
            truth = pp - pm
            cells = []
            for lo, hi in ((tl, th), (al, ah)):
                cov = float(np.mean((lo <= truth) & (truth <= hi)))
                below, above = float(np.mean(hi < truth)), float(np.mean(lo > truth))
                cells.append(f"{100 * cov:.1f} % ({100 * below:.1f} / {100 * above:.1f})")
            print(f"| {pp} / {pm} | {n} | {cells[0]} | {cells[1]} |")


# -- streams: fleet sums with per-pod predictable centring and restarts -----------------------


def variance_increments(rng: np.random.Generator, x: F, pods: int, restarts_per_pod: float) -> F:
    """(x_i − running mean of x on its pod before i)², pods round robin, random restarts."""
    runs = x.shape[0]
    out = np.empty_like(x)
    for pod in range(pods):
        xp = x[:, pod::pods]
        m = xp.shape[1]
        flags = rng.random((runs, m)) < restarts_per_pod / m
        flags[:, 0] = True
        last = np.maximum.accumulate(np.where(flags, np.arange(m), 0), axis=1)
        cs_prev = np.cumsum(xp, axis=1) - xp
        base = np.take_along_axis(cs_prev, last, axis=1)
        count = np.arange(m) - last
        mean_prev = np.where(count > 0, (cs_prev - base) / np.maximum(count, 1), 0.0)
        out[:, pod::pods] = (xp - mean_prev) ** 2
    return out


def window_sums(a: F, w: int | None) -> F:
    c = np.cumsum(a, axis=1)
    if w is None or w >= a.shape[1]:
        return c
    out = c.copy()
    out[:, w:] -= c[:, :-w]
    return out


def first_alarm(
    d: F, vinc: F, theta: float, w: int | None, min_pairs: int, kind: str
) -> npt.NDArray[np.int64]:
    """Index of the first pair after which the alarm is on (−1 when never)."""
    total = d.shape[1]
    s1 = window_sums(d, w)
    n = np.minimum(np.arange(1, total + 1), w if w else total).astype(np.float64)
    if kind == "cs":
        low = (s1 - u_vec(window_sums(vinc, w), 2.0)) / n
    else:  # the deployed fixed-n interval, re-checked every pair (its floor is ~0 here)
        s2 = window_sums(d * d, w)
        var = np.maximum(0.0, (s2 - s1 * s1 / n) / np.maximum(n - 1, 1))
        low = s1 / n - Z * np.sqrt(var / n)  # t ≈ z for n ≥ 200
    alarm = (low > theta) & (n >= min_pairs)
    has = alarm.any(axis=1)
    return np.where(has, alarm.argmax(axis=1), -1)


def rate_line(hits: int, runs: int) -> str:
    iv = wilson(hits, runs, 0.05)
    assert iv is not None
    ci = f"95 % CI {100 * iv.low:.1f}–{100 * iv.high:.1f}"
    return f"{100 * hits / runs:.1f} % ({hits}/{runs}; {ci})"


def cs_time_uniform(rng: np.random.Generator, runs: int, total: int) -> None:
    print(
        f"\n## 2. Confidence sequence, time-uniform miscoverage ({runs} runs × {total} pairs, "
        "cumulative, one pod, checked after every pair; bound α = 5 %)\n"
    )
    print("| measure | P(∃t: truth outside CS_t) |")
    print("|---|---|")
    chunk = 50
    for label, gen, truth, c in (
        ("Δ, stream at 0.03", lambda sh: stream_d(rng, sh, 0.03), 0.03, 2.0),
        ("Δ, scenario B", lambda sh: scenario("B", rng, sh), 0.06 - 0.02, 2.0),
        (
            "over-refusal, p = 0.05",
            lambda sh: np.less(rng.random(sh), 0.05).astype(float),
            0.05,
            1.0,
        ),
    ):
        hits = 0
        for _ in range(runs // chunk):
            x = gen((chunk, total))
            v = variance_increments(rng, x, 1, 0.0)
            n = np.arange(1, total + 1, dtype=np.float64)
            s = np.cumsum(x, axis=1)
            u = u_vec(np.cumsum(v, axis=1), c)
            miss = ((s - u) / n > truth) | ((s + u) / n < truth)
            hits += int(miss.any(axis=1).sum())
        print(f"| {label} | {rate_line(hits, runs)} |")


def false_alarms(rng: np.random.Generator, runs: int, total: int) -> None:
    theta = 0.03
    print(
        f"\n## 3. False alarms on a null stream (true Δ = θ = {theta}), {runs} runs × {total} "
        "pairs, 3 pods with ~5 restarts each, alarm when n_W ≥ 200 and low > θ, checked "
        "after every pair\n"
    )
    print("| window (pairs) | alert on cs_low (deployed) | fixed-n 95 % ci_low, same checks |")
    print("|---|---|---|")
    chunk = 25
    for w in (2000, 10_000, None):
        hits = {"cs": 0, "ci": 0}
        for _ in range(runs // chunk):
            d = stream_d(rng, (chunk, total), 0.03)
            v = variance_increments(rng, d, 3, 5.0)
            for kind in hits:
                hits[kind] += int((first_alarm(d, v, theta, w, 200, kind) >= 0).sum())
        label = f"{w}" if w else "cumulative (no window)"
        print(f"| {label} | {rate_line(hits['cs'], runs)} | {rate_line(hits['ci'], runs)} |")


def detection(rng: np.random.Generator, runs: int, stable: int, after: int) -> None:
    theta = 0.03
    print(
        f"\n## 4. Detection delay: Δ 0.03 → 0.10 after {stable} stable pairs ({runs} runs, "
        f"θ = {theta}, watched up to {after} pairs after the change)\n"
    )
    print("| window (pairs) | alarms before change | median delay | p90 delay | never |")
    print("|---|---|---|---|---|")
    chunk = 50
    for w in (2000, 10_000, None):
        pre = 0
        delays: list[int] = []
        never = 0
        for _ in range(runs // chunk):
            d = np.concatenate(
                [stream_d(rng, (chunk, stable), 0.03), stream_d(rng, (chunk, after), 0.10)], axis=1
            )
            v = variance_increments(rng, d, 3, 5.0 * (stable + after) / 100_000)
            first = first_alarm(d, v, theta, w, 200, "cs")
            pre += int(((first >= 0) & (first < stable)).sum())
            never += int((first < 0).sum())
            delays.extend(int(f - stable + 1) for f in first if f >= stable)
        label = f"{w}" if w else "cumulative"
        arr = np.array(delays) if delays else np.array([-1])
        print(
            f"| {label} | {pre} | {int(np.median(arr))} | {int(np.quantile(arr, 0.9))} | {never} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer runs (smoke test)")
    args = ap.parse_args()
    rng = np.random.default_rng(20261127)
    t0 = time.perf_counter()
    cross_check(rng)
    q = args.quick
    coverage(rng, 1000 if q else 4000)
    cs_time_uniform(rng, 50 if q else 200, 20_000 if q else 100_000)
    false_alarms(rng, 25 if q else 200, 20_000 if q else 100_000)
    detection(rng, 50 if q else 400, 10_000, 20_000)
    validity_ppi.coverage_grid(rng, 40 if q else 400, min_audited=2)
    validity_ppi.false_alarms(rng, 20 if q else 200, 5_000 if q else 20_000)
    print(f"\n(seed 20261127, {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
