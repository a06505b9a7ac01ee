#!/usr/bin/env python3
"""GPU benchmark of the default-judge graph builder: ONNX Runtime CUDA EP (fp32, fp16) next to
the same encoder in PyTorch fp16, on the same card, in one run.

The encoder is MiniLM-L6-shaped with SEEDED RANDOM weights (no weights need to travel), built
by ``taxmeter.judgetools.graph``, imported from this checkout's ``service/`` (the taxmeter
package need not be installed). Needs numpy, onnx, onnxruntime(-gpu); torch is optional
(imported lazily; its section is skipped if absent).

Each row: sequences/s of the response branch (the prompt branch gets a 2-token sequence, so
it costs almost nothing; torch runs only the response encoder), and parity as cosine of the
pooled embeddings against ORT fp32 on the same device. Sections fail independently.

    python bench/judges_gpu.py               # GPU machine
    python bench/judges_gpu.py --cpu-only    # here: ORT CPU only (torch skipped unless CUDA)

Writes ``$OUT/judges_gpu.json`` when ``$OUT`` is set.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

SERVICE = Path(__file__).resolve().parent.parent / "service"


def load_graph_module() -> ModuleType:
    """``taxmeter.judgetools.graph`` from this checkout (it was a file-path load of a module
    that has since moved and gained package imports)."""
    if str(SERVICE) not in sys.path:
        sys.path.insert(0, str(SERVICE))
    return importlib.import_module("taxmeter.judgetools.graph")


def make_batch(rng: np.random.Generator, batch: int, seq: int, vocab: int) -> dict[str, Any]:
    ids = rng.integers(1000, vocab, size=(batch, seq), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 101, 102
    mask = np.ones_like(ids)
    # Realistic padding: the last quarter of rows is half as long.
    short = batch - batch // 4
    mask[short:, seq // 2 :] = 0
    ids[short:, seq // 2 :] = 0
    prompt = np.tile(np.array([[101, 102]], dtype=np.int64), (batch, 1))
    return {
        "prompt_input_ids": prompt,
        "prompt_attention_mask": np.ones_like(prompt),
        "prompt_token_type_ids": np.zeros_like(prompt),
        "response_input_ids": ids,
        "response_attention_mask": mask,
        "response_token_type_ids": np.zeros_like(ids),
    }


def time_it(fn: Any, budget_s: float, min_iters: int = 3, max_iters: int = 200) -> float:
    """Median seconds per call after two warm-up calls."""
    fn()
    fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < min_iters or (
        time.perf_counter() - start < budget_s and len(samples) < max_iters
    ):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return float(np.median(samples))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    c = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(c.min())


def ort_session(ort: Any, model_bytes: bytes, provider: str, threads: int) -> Any:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if provider == "CPUExecutionProvider":
        opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(model_bytes, opts, providers=[provider])
    if sess.get_providers()[0] != provider:
        raise RuntimeError(f"asked for {provider}, got {sess.get_providers()}")
    return sess


def torch_encoder(torch: Any, weights: dict[str, np.ndarray], cfg: Any, device: str) -> Any:
    """The same BERT encoder + mean pooling + L2 norm as graph.py, in PyTorch (fp16)."""
    module: Any = torch.nn.Module  # torch is untyped here (installed on GPU machines only)
    f = torch.nn.functional

    def t(name: str) -> Any:
        return torch.tensor(weights[name], device=device, dtype=torch.float16)

    class Encoder(module):  # type: ignore[misc]
        def forward(self, ids: Any, mask: Any) -> Any:
            seq = ids.shape[1]
            x = f.embedding(ids, t_word) + t_pos[:seq][None] + t_type[0][None, None]
            x = f.layer_norm(x, (cfg.hidden_size,), ln_w, ln_b, cfg.layer_norm_eps)
            add_mask = (1.0 - mask[:, None, None, :].to(x.dtype)) * -10000.0
            b, h, dh = ids.shape[0], cfg.num_heads, cfg.head_dim
            for lw in layers:
                q, k, v = (
                    f.linear(x, lw[n + ".weight"], lw[n + ".bias"])
                    .view(b, seq, h, dh)
                    .transpose(1, 2)
                    for n in ("q", "k", "v")
                )
                ctx = f.scaled_dot_product_attention(q, k, v, attn_mask=add_mask)
                ctx = ctx.transpose(1, 2).reshape(b, seq, cfg.hidden_size)
                x = f.layer_norm(
                    f.linear(ctx, lw["o.weight"], lw["o.bias"]) + x,
                    (cfg.hidden_size,),
                    lw["ln1.weight"],
                    lw["ln1.bias"],
                    cfg.layer_norm_eps,
                )
                hdn = f.gelu(f.linear(x, lw["i.weight"], lw["i.bias"]))
                x = f.layer_norm(
                    f.linear(hdn, lw["out.weight"], lw["out.bias"]) + x,
                    (cfg.hidden_size,),
                    lw["ln2.weight"],
                    lw["ln2.bias"],
                    cfg.layer_norm_eps,
                )
            m = mask[:, :, None].to(torch.float32)
            pooled = (x.float() * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return f.normalize(pooled, dim=1)

    t_word = t("embeddings.word_embeddings.weight")
    t_pos = t("embeddings.position_embeddings.weight")
    t_type = t("embeddings.token_type_embeddings.weight")
    ln_w, ln_b = t("embeddings.LayerNorm.weight"), t("embeddings.LayerNorm.bias")
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "o": "attention.output.dense",
        "ln1": "attention.output.LayerNorm",
        "i": "intermediate.dense",
        "out": "output.dense",
        "ln2": "output.LayerNorm",
    }
    layers = [
        {
            f"{short}.{kind}": t(f"encoder.layer.{i}.{long}.{kind}")
            for short, long in names.items()
            for kind in ("weight", "bias")
        }
        for i in range(cfg.num_layers)
    ]
    return Encoder().eval()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-only", action="store_true", help="skip every CUDA section")
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--seqs", default="64,128")
    parser.add_argument("--budget-s", type=float, default=0.6, help="timing budget per cell")
    parser.add_argument("--cpu-threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    batches = [int(x) for x in args.batches.split(",")]
    seqs = [int(x) for x in args.seqs.split(",")]
    t_start = time.perf_counter()
    result: dict[str, Any] = {
        "bench": "judges_gpu",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "errors": {},
        "rows": [],
    }

    graph = load_graph_module()
    cfg = graph.EncoderConfig()
    weights = graph.random_encoder_weights(cfg, seed=0)
    rng = np.random.default_rng(1)
    heads = [
        graph.DenseLayer(
            (rng.standard_normal((graph.feature_dim(cfg.hidden_size), 3)) * 0.05).astype(
                np.float32
            ),
            np.zeros(3, np.float32),
        )
    ]
    models = {
        dt: graph.build_judge_graph(weights, heads, dtype=dt).SerializeToString()
        for dt in ("float32", "float16")
    }

    import onnxruntime as ort

    result["onnxruntime"] = ort.__version__
    engines: dict[str, Any] = {}
    if not args.cpu_only:
        try:
            if hasattr(ort, "preload_dlls"):
                ort.preload_dlls()
            for dt in ("float32", "float16"):
                sess = ort_session(ort, models[dt], "CUDAExecutionProvider", 0)
                engines[f"ort-cuda-{dt}"] = lambda feeds, s=sess: s.run(["embedding"], feeds)[0]
        except Exception as exc:
            result["errors"]["ort-cuda"] = f"{type(exc).__name__}: {exc}"
        try:
            import torch

            result["torch"] = torch.__version__
            if not torch.cuda.is_available():
                raise RuntimeError("torch sees no CUDA device")
            result["device"] = torch.cuda.get_device_name(0)
            enc = torch_encoder(torch, weights, cfg, "cuda")

            def run_torch(feeds: dict[str, np.ndarray]) -> np.ndarray:
                with torch.inference_mode():
                    ids = torch.from_numpy(feeds["response_input_ids"]).cuda()
                    mask = torch.from_numpy(feeds["response_attention_mask"]).cuda()
                    out: np.ndarray = enc(ids, mask).cpu().numpy()
                    return out

            engines["torch-cuda-float16"] = run_torch
        except Exception as exc:
            result["errors"]["torch"] = f"{type(exc).__name__}: {exc}"
    cpu32 = ort_session(ort, models["float32"], "CPUExecutionProvider", args.cpu_threads)

    def run_cpu(feeds: dict[str, np.ndarray]) -> np.ndarray:
        out: np.ndarray = cpu32.run(["embedding"], feeds)[0]
        return out

    cells = [(b, s) for s in seqs for b in batches]
    for b, s in cells:
        feeds = make_batch(np.random.default_rng(b * 1000 + s), b, s, cfg.vocab_size)
        baseline_name = "ort-cuda-float32" if "ort-cuda-float32" in engines else "ort-cpu-float32"
        run_list = dict(engines)
        if b == 8 or not engines:
            run_list["ort-cpu-float32"] = run_cpu
        try:
            ref = run_list[baseline_name](feeds) if baseline_name in run_list else run_cpu(feeds)
        except Exception as exc:
            result["errors"][f"baseline b{b} s{s}"] = f"{type(exc).__name__}: {exc}"
            continue
        for name, fn in run_list.items():
            try:
                if name == "ort-cpu-float32" and b > 8 and engines:
                    continue
                sec = time_it(lambda fn=fn, feeds=feeds: fn(feeds), args.budget_s)
                row = {
                    "engine": name,
                    "batch": b,
                    "seq": s,
                    "seconds_per_batch": sec,
                    "sequences_per_s": b / sec,
                    "cosine_min_vs_" + baseline_name: cosine(fn(feeds), ref),
                }
                result["rows"].append(row)
            except Exception as exc:
                result["errors"][f"{name} b{b} s{s}"] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc(limit=1)
    result["total_s"] = round(time.perf_counter() - t_start, 1)

    print(
        f"{'engine':22s} {'batch':>5s} {'seq':>4s} {'seq/s':>10s} {'ms/batch':>9s} {'cos_min':>10s}"
    )
    for row in result["rows"]:
        cos = next(v for k, v in row.items() if k.startswith("cosine"))
        print(
            f"{row['engine']:22s} {row['batch']:5d} {row['seq']:4d} "
            f"{row['sequences_per_s']:10.1f} {1000 * row['seconds_per_batch']:9.2f} "
            f"{cos:10.7f}"
        )
    for key, err in result["errors"].items():
        print(f"error {key}: {err}")
    print(json.dumps(result))
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "judges_gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
