"""Tiny random Hugging Face sequence-classification checkpoints, written by the tests
themselves, and an independent float64 NumPy forward pass of them.

The reference follows the Hugging Face modelling code (``modeling_bert``,
``modeling_roberta``, ``modeling_distilbert``) with the checkpoint's own tensor names; it does
not call taxmeter's graph builder or checkpoint reader, so a wrong name mapping, transpose,
position offset, mask or activation in the importer shows up as a parity failure.
RoBERTa positions are computed the Hugging Face way, from ``input_ids != padding_idx``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

WORDS = (
    "i",
    "am",
    "sorry",
    "but",
    "can",
    "not",
    "cannot",
    "help",
    "with",
    "that",
    "request",
    "here",
    "is",
    "how",
    "to",
    "bake",
    "bread",
    "mix",
    "flour",
    "water",
    "salt",
    "and",
    "yeast",
    "the",
    "capital",
    "of",
    "france",
    "paris",
    "a",
    "story",
    "about",
    "dragon",
    "sure",
    "what",
    "do",
    "you",
    "want",
    "it",
    "appropriate",
    "make",
    "pick",
    "lock",
    "please",
    "write",
    "poem",
    "sea",
)

BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


@dataclass(frozen=True)
class TinyCheckpoint:
    path: Path
    config: dict[str, Any]
    weights: dict[str, np.ndarray]
    """Checkpoint names, as saved."""


def tiny_tokenizer(family: str) -> Tokenizer:
    """A word-level tokenizer over :data:`WORDS` with the family's special tokens and
    post-processor (``[CLS] A [SEP] B [SEP]`` with type ids, or ``<s> A </s></s> B </s>``)."""
    specials = ROBERTA_SPECIALS if family == "roberta" else BERT_SPECIALS
    vocab = {tok: i for i, tok in enumerate((*specials, *WORDS))}
    unk = "<unk>" if family == "roberta" else "[UNK]"
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if family == "roberta":
        tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    else:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
        )
    tok.add_special_tokens(list(specials))
    return tok


def _config(family: str, labels: Sequence[str], **overrides: Any) -> dict[str, Any]:
    vocab = len(WORDS) + 8  # a few spare rows, as real checkpoints often have
    id2label = {str(i): lab for i, lab in enumerate(labels)}
    label2id = {lab: i for i, lab in enumerate(labels)}
    if family == "distilbert":
        cfg: dict[str, Any] = {
            "architectures": ["DistilBertForSequenceClassification"],
            "model_type": "distilbert",
            "vocab_size": vocab,
            "dim": 32,
            "n_layers": 2,
            "n_heads": 4,
            "hidden_dim": 64,
            "activation": "gelu",
            "max_position_embeddings": 64,
            "pad_token_id": 0,
            "sinusoidal_pos_embds": False,
        }
    elif family == "roberta":
        cfg = {
            "architectures": ["RobertaForSequenceClassification"],
            "model_type": "roberta",
            "vocab_size": vocab,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 64,
            "hidden_act": "gelu",
            "max_position_embeddings": 66,
            "type_vocab_size": 1,
            "layer_norm_eps": 1e-5,
            "pad_token_id": 1,
            "bos_token_id": 0,
            "eos_token_id": 2,
        }
    else:
        cfg = {
            "architectures": ["BertForSequenceClassification"],
            "model_type": "bert",
            "vocab_size": vocab,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 64,
            "hidden_act": "gelu",
            "max_position_embeddings": 64,
            "type_vocab_size": 2,
            "layer_norm_eps": 1e-12,
            "pad_token_id": 0,
        }
    cfg.update(id2label=id2label, label2id=label2id)
    cfg.update(overrides)
    return cfg


def _random_weights(family: str, cfg: Mapping[str, Any], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def normal(*shape: int, std: float = 0.1) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ln(name: str, d: int) -> dict[str, np.ndarray]:
        return {f"{name}.weight": 1.0 + normal(d, std=0.1), f"{name}.bias": normal(d)}

    def lin(name: str, out_dim: int, in_dim: int, std: float = 0.15) -> dict[str, np.ndarray]:
        return {
            f"{name}.weight": normal(out_dim, in_dim, std=std),
            f"{name}.bias": normal(out_dim, std=0.05),
        }

    n_labels = len(cfg["id2label"])
    if family == "distilbert":
        d, f, p = cfg["dim"], cfg["hidden_dim"], "distilbert."
        w = {
            f"{p}embeddings.word_embeddings.weight": normal(cfg["vocab_size"], d, std=0.5),
            f"{p}embeddings.position_embeddings.weight": normal(
                cfg["max_position_embeddings"], d, std=0.5
            ),
            **ln(f"{p}embeddings.LayerNorm", d),
        }
        for i in range(cfg["n_layers"]):
            n = f"{p}transformer.layer.{i}"
            for part in ("q_lin", "k_lin", "v_lin", "out_lin"):
                w.update(lin(f"{n}.attention.{part}", d, d, std=0.3))
            w.update(ln(f"{n}.sa_layer_norm", d))
            w.update(lin(f"{n}.ffn.lin1", f, d, std=0.3))
            w.update(lin(f"{n}.ffn.lin2", d, f, std=0.2))
            w.update(ln(f"{n}.output_layer_norm", d))
        w.update(lin("pre_classifier", d, d, std=0.3))
        w.update(lin("classifier", n_labels, d, std=0.5))
        return w
    d, f = cfg["hidden_size"], cfg["intermediate_size"]
    p = "roberta." if family == "roberta" else "bert."
    w = {
        f"{p}embeddings.word_embeddings.weight": normal(cfg["vocab_size"], d, std=0.5),
        f"{p}embeddings.position_embeddings.weight": normal(
            cfg["max_position_embeddings"], d, std=0.5
        ),
        f"{p}embeddings.token_type_embeddings.weight": normal(cfg["type_vocab_size"], d, std=0.5),
        **ln(f"{p}embeddings.LayerNorm", d),
    }
    for i in range(cfg["num_hidden_layers"]):
        n = f"{p}encoder.layer.{i}"
        for part in ("query", "key", "value"):
            w.update(lin(f"{n}.attention.self.{part}", d, d, std=0.3))
        w.update(lin(f"{n}.attention.output.dense", d, d, std=0.3))
        w.update(ln(f"{n}.attention.output.LayerNorm", d))
        w.update(lin(f"{n}.intermediate.dense", f, d, std=0.3))
        w.update(lin(f"{n}.output.dense", d, f, std=0.2))
        w.update(ln(f"{n}.output.LayerNorm", d))
    if family == "roberta":
        w.update(lin("classifier.dense", d, d, std=0.3))
        w.update(lin("classifier.out_proj", n_labels, d, std=0.5))
    else:
        w.update(lin(f"{p}pooler.dense", d, d, std=0.3))
        w.update(lin("classifier", n_labels, d, std=0.5))
    return w


def write_checkpoint(
    path: Path,
    family: str = "bert",
    *,
    labels: Sequence[str] = ("NORMAL", "REJECTION"),
    seed: int = 0,
    shards: int = 1,
    tokenizer: bool = True,
    **config_overrides: Any,
) -> TinyCheckpoint:
    """Write ``config.json``, ``tokenizer.json`` and ``model.safetensors`` (or ``shards``
    files and ``model.safetensors.index.json``) of a tiny random classifier to ``path``.
    ``family``: ``bert``, ``roberta`` or ``distilbert``; keyword arguments override config
    fields (e.g. ``hidden_act="gelu_new"``, ``model_type="xlm-roberta"``)."""
    path.mkdir(parents=True, exist_ok=True)
    cfg = _config(family, labels, **config_overrides)
    weights = _random_weights(family, cfg, seed)
    (path / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    if tokenizer:
        tiny_tokenizer(family).save(str(path / "tokenizer.json"))
    names = sorted(weights)
    if shards == 1:
        save_file(weights, str(path / "model.safetensors"))
    else:
        weight_map = {}
        for s in range(shards):
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {n: weights[n] for n in names[s::shards]}
            save_file(part, str(path / fname))
            weight_map.update(dict.fromkeys(part, fname))
        (path / "model.safetensors.index.json").write_text(
            json.dumps({"metadata": {}, "weight_map": weight_map}), encoding="utf-8"
        )
    return TinyCheckpoint(path, cfg, weights)


# -- the float64 reference -----------------------------------------------------------------


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    out: np.ndarray = (x - mu) / np.sqrt(var + eps) * w + b
    return out


def erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.2e-7 relative error of erfc (Numerical Recipes' Chebyshev fit),
    vectorised: ``math.erf`` element by element takes half a minute on a MiniLM batch."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (
        -z * z
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    erfc = t * np.exp(poly)
    out: np.ndarray = np.where(x >= 0, 1.0 - erfc, erfc - 1.0)
    return out


def _act(name: str, x: np.ndarray) -> np.ndarray:
    if name == "gelu":
        out: np.ndarray = 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
        return out
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        out = 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
        return out
    if name == "relu":
        out = np.maximum(x, 0.0)
        return out
    raise ValueError(name)


def reference_logits(
    ckpt: TinyCheckpoint,
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    token_type_ids: np.ndarray | None = None,
    *,
    roberta_positions: str = "hf",
) -> np.ndarray:
    """Logits ``[B, num_labels]`` (float64) of ``ckpt`` on a right-padded batch.
    ``roberta_positions="naive"`` uses 0..S-1 instead (to show the offset matters)."""
    cfg = ckpt.config
    w = {k: np.asarray(v, np.float64) for k, v in ckpt.weights.items()}
    family = {
        "bert": "bert",
        "roberta": "roberta",
        "xlm-roberta": "roberta",
        "distilbert": "distilbert",
    }[cfg["model_type"]]
    ids = np.asarray(input_ids)
    mask = np.asarray(attention_mask, np.float64)
    batch, seq = ids.shape
    if family == "distilbert":
        p, d, heads = "distilbert.", cfg["dim"], cfg["n_heads"]
        eps, act, n_layers = 1e-12, cfg["activation"], cfg["n_layers"]
    else:
        p = "roberta." if family == "roberta" else "bert."
        d, heads, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
        act, n_layers = cfg["hidden_act"], cfg["num_hidden_layers"]
    if family == "roberta" and roberta_positions == "hf":
        # create_position_ids_from_input_ids
        pad = cfg["pad_token_id"]
        not_pad = (ids != pad).astype(np.int64)
        positions = np.cumsum(not_pad, axis=1) * not_pad + pad
    else:
        positions = np.broadcast_to(np.arange(seq), ids.shape)
    x = (
        w[f"{p}embeddings.word_embeddings.weight"][ids]
        + w[f"{p}embeddings.position_embeddings.weight"][positions]
    )
    if family != "distilbert":
        types = np.zeros_like(ids) if token_type_ids is None else np.asarray(token_type_ids)
        x = x + w[f"{p}embeddings.token_type_embeddings.weight"][types]
    x = _layer_norm(
        x, w[f"{p}embeddings.LayerNorm.weight"], w[f"{p}embeddings.LayerNorm.bias"], eps
    )
    dh = d // heads
    # HF: (1 - mask) * finfo.min added to the scores
    extended = (1.0 - mask)[:, None, None, :] * np.finfo(np.float64).min

    def lin(h: np.ndarray, name: str) -> np.ndarray:
        out: np.ndarray = h @ w[f"{name}.weight"].T + w[f"{name}.bias"]
        return out

    def split(h: np.ndarray) -> np.ndarray:
        return h.reshape(batch, seq, heads, dh).transpose(0, 2, 1, 3)

    for i in range(n_layers):
        if family == "distilbert":
            n = f"{p}transformer.layer.{i}"
            names = (
                f"{n}.attention.q_lin",
                f"{n}.attention.k_lin",
                f"{n}.attention.v_lin",
                f"{n}.attention.out_lin",
                f"{n}.sa_layer_norm",
                f"{n}.ffn.lin1",
                f"{n}.ffn.lin2",
                f"{n}.output_layer_norm",
            )
        else:
            n = f"{p}encoder.layer.{i}"
            names = (
                f"{n}.attention.self.query",
                f"{n}.attention.self.key",
                f"{n}.attention.self.value",
                f"{n}.attention.output.dense",
                f"{n}.attention.output.LayerNorm",
                f"{n}.intermediate.dense",
                f"{n}.output.dense",
                f"{n}.output.LayerNorm",
            )
        q, k, v = (split(lin(x, names[j])) for j in range(3))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh) + extended
        scores = scores - scores.max(-1, keepdims=True)
        probs = np.exp(scores)
        probs = probs / probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, d)
        x = _layer_norm(lin(ctx, names[3]) + x, w[f"{names[4]}.weight"], w[f"{names[4]}.bias"], eps)
        h = lin(_act(act, lin(x, names[5])), names[6])
        x = _layer_norm(h + x, w[f"{names[7]}.weight"], w[f"{names[7]}.bias"], eps)
    first = x[:, 0]
    if family == "bert":
        return lin(np.tanh(lin(first, f"{p}pooler.dense")), "classifier")
    if family == "roberta":
        return lin(np.tanh(lin(first, "classifier.dense")), "classifier.out_proj")
    return lin(np.maximum(lin(first, "pre_classifier"), 0.0), "classifier")


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    out: np.ndarray = e / e.sum(-1, keepdims=True)
    return out
