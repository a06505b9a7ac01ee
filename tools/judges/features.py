"""Head features of many (prompt, response) pairs, computed by the judge's own ONNX graph.

The graph is the one the build ships (MiniLM-L6 encoder, opening pool, lexicon hits), with a
``features`` output and no heads, so training sees exactly what the shipped heads will see.
Results are cached under ``--cache`` by a hash of the texts, the lexicon and the weights.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from taxmeter.judgetools.graph import DUAL_INPUTS, build_judge_graph
from taxmeter.judgetools.lexicon import Lexicon, lexicon_hits_numpy
from taxmeter.judgetools.repository import MAX_LENGTH
from taxmeter.judgetools.weights import encode_texts, judge_tokenizer_json, load_minilm

BATCH = 32


def read_lexicon(path: Path) -> list[str]:
    """Phrases from a text file: one a line, ``#`` comments and blank lines skipped."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.lower())
    return out


def lexicon_from_phrases(
    phrases: Sequence[str], tokenizer_json: str, opening_tokens: int
) -> tuple[Lexicon, list[str]]:
    """Token-id rows for each phrase and its typographic-apostrophe twin (deduplicated)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    rows: list[list[int]] = []
    names: list[str] = []
    seen: set[tuple[int, ...]] = set()
    for phrase in phrases:
        for variant in dict.fromkeys([phrase, phrase.replace("'", "\u2019")]):
            ids = tok.encode(variant, add_special_tokens=False).ids
            if not ids or tuple(ids) in seen:
                continue
            seen.add(tuple(ids))
            rows.append(ids)
            names.append(variant)
    width = max(len(r) for r in rows)
    table = np.full((len(rows), width), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    return Lexicon(phrases=table, opening_tokens=opening_tokens), names


def _pair_key(prompt: str, response: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8") + b"\x00" + response.encode("utf-8")).hexdigest()[
        :24
    ]


def compute_features(
    prompts: Sequence[str],
    responses: Sequence[str],
    lexicon: Lexicon,
    cache: Path | None = None,
    progress: bool = True,
) -> np.ndarray:
    """``[N, F]`` float64 features, in input order: the graph's encoder features (cached under
    ``cache``, keyed by the pairs, the opening length, the weights and the max length; every
    batch is saved as it is computed, so an interrupted run only computes what is left) and
    the lexicon hits, computed in NumPy from the token ids (``lexicon_hits_numpy``, equal to
    the graph's; tested), so that changing the lexicon costs no re-encoding."""
    import onnxruntime as ort

    minilm = load_minilm()
    tokenizer_json = judge_tokenizer_json(minilm.tokenizer_path, MAX_LENGTH)
    setting = hashlib.sha256(
        f"{lexicon.opening_tokens}|{minilm.package_version}|max_length={MAX_LENGTH}".encode()
    ).hexdigest()[:12]
    hidden = int(minilm.weights["embeddings.LayerNorm.weight"].shape[0])
    width = 5 * hidden + 2
    store: dict[str, np.ndarray] = {}
    folder = None if cache is None else cache / f"encoder-{setting}"
    if folder is not None and folder.is_dir():
        for part in sorted(folder.glob("part-*.npz")):
            with np.load(part) as data:
                store.update({k: data[k][:width] for k in data.files})
    keys = [_pair_key(p, r) for p, r in zip(prompts, responses, strict=True)]
    todo = sorted(
        {k: i for i, k in enumerate(keys) if k not in store}.values(),
        key=lambda i: (len(responses[i]) + len(prompts[i]), i),
    )
    if todo:
        model = build_judge_graph(minilm.weights, [], lexicon=lexicon, features_output=True)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = min(4, os.cpu_count() or 1)
        opts.log_severity_level = 3
        sess = ort.InferenceSession(
            model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
        )
        pending: dict[str, np.ndarray] = {}
        for n, start in enumerate(range(0, len(todo), BATCH)):
            idx = todo[start : start + BATCH]
            p = encode_texts(tokenizer_json, [prompts[i] for i in idx], MAX_LENGTH)
            r = encode_texts(tokenizer_json, [responses[i] for i in idx], MAX_LENGTH)
            out = sess.run(["features"], dict(zip(DUAL_INPUTS, (*p, *r), strict=True)))[0]
            for i, row in zip(idx, out, strict=True):
                pending[keys[i]] = row[:width]
            if folder is not None and (len(pending) >= 1024 or start + BATCH >= len(todo)):
                folder.mkdir(parents=True, exist_ok=True)
                np.savez(folder / f"part-{len(list(folder.glob('part-*.npz'))):05d}.npz", **pending)  # type: ignore[arg-type]
                store.update(pending)
                pending = {}
            if progress and n % 20 == 0:
                print(f"  features {min(start + BATCH, len(todo))}/{len(todo)}", flush=True)
        store.update(pending)
    encoder = np.stack([store[k] for k in keys]).astype(np.float64)
    hits = np.zeros((len(keys), 2 * lexicon.size))
    for start in range(0, len(keys), 512):
        ids, mask, _ = encode_texts(tokenizer_json, responses[start : start + 512], MAX_LENGTH)
        hits[start : start + 512] = lexicon_hits_numpy(ids, mask, lexicon)
    return np.concatenate([encoder, hits], axis=1)
