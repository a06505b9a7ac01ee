"""The judge repository: one folder per judge (``model.onnx``, ``tokenizer.json``,
``manifest.yaml``), loaded into ``LoadedJudge`` objects.

Loading has two steps. ``load_repository`` (synchronous, cheap) reads every manifest, checks
that the files exist, loads the tokenizer, checks the tokenizer against the model's embedding
table, and creates each judge's backend without starting it. ``LoadedJudge.start`` (async)
starts the backend (ONNX Runtime session, or remote connection) and validates the manifest
against the model's real inputs and outputs. Every problem raises ``JudgeLoadError`` naming the
judge; a missing repository or an unknown judge in the config raises ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from taxmeter.errors import ConfigError, JudgeLoadError
from taxmeter.judges.backend import InferenceBackend
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.manifest import (
    INPUT_ROLES,
    JudgeManifest,
    load_manifest,
    validate_against_model,
)
from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer

__all__ = ["BackendFactory", "LoadedJudge", "load_repository", "onnx_backend_factory"]

BackendFactory = Callable[[str, Path, JudgeManifest], InferenceBackend]
"""``(judge name, judge folder, manifest) -> backend`` (not started)."""


class LoadedJudge:
    """A judge whose manifest and tokenizer are loaded; ``start()`` brings up its backend."""

    def __init__(
        self,
        path: Path,
        manifest: JudgeManifest,
        tokenizer: JudgeTokenizer,
        backend: InferenceBackend,
        *,
        requested_provider: str,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.tokenizer = tokenizer
        self.backend = backend
        self.requested_provider = requested_provider
        self._feed_names: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def feed_names(self) -> Mapping[str, str]:
        """Input role → graph input name (after ``start()``)."""
        if self._feed_names is None:
            raise JudgeLoadError(self.name, "judge is not started")
        return self._feed_names

    async def start(self) -> None:
        """Start the backend and validate the manifest against the model's real tensors."""
        await self.backend.start()
        self._feed_names = validate_against_model(
            self.manifest, self.backend.inputs(), self.backend.outputs()
        )


def onnx_backend_factory(config: JudgeEngineConfig, executor: Executor) -> BackendFactory:
    """The in-process ONNX Runtime backend for every judge, sharing one bounded pool."""
    from taxmeter.judges.onnx_backend import OnnxBackend

    def make(judge: str, judge_dir: Path, manifest: JudgeManifest) -> InferenceBackend:
        return OnnxBackend(
            judge,
            judge_dir / manifest.model,
            config,
            executor,
            variants={name: judge_dir / file for name, file in manifest.variants.items()},
            provider_variants={str(k): str(v) for k, v in manifest.provider_variants.items()},
        )

    return make


def load_repository(
    path: Path,
    config: JudgeEngineConfig,
    *,
    backend_factory: BackendFactory,
    requested_provider: str | None = None,
) -> list[LoadedJudge]:
    """Load every judge (or ``config.judges``) under ``path``, in name order; backends are
    created, not started. ``requested_provider`` is the label for ``provider_info``
    (default: ``remote`` for a remote backend, else the first configured ONNX Runtime
    provider)."""
    if not path.is_dir():
        raise ConfigError(
            "judges.repository",
            f"judge repository {path} does not exist or is not a folder",
        )
    found = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if config.judges is not None:
        unknown = [j for j in config.judges if j not in found]
        if unknown:
            raise ConfigError(
                "judges.judges",
                f"judge(s) {unknown} not found in repository {path} (found: {found})",
            )
        names = [j for j in found if j in config.judges]
    else:
        names = found
    if not names:
        raise ConfigError("judges.repository", f"judge repository {path} holds no judge folder")
    default = "remote" if config.backend == "kserve" else config.providers[0]
    requested = requested_provider or default
    local_model = config.backend == "onnxruntime"
    return [
        _load_judge(path / name, config, backend_factory, requested, local_model) for name in names
    ]


def _load_judge(
    judge_dir: Path,
    config: JudgeEngineConfig,
    backend_factory: BackendFactory,
    requested: str,
    local_model: bool,
) -> LoadedJudge:
    manifest = load_manifest(judge_dir)
    judge = manifest.name
    model_path = judge_dir / manifest.model
    if local_model:
        if not model_path.is_file():
            raise JudgeLoadError(judge, f"model file {model_path} does not exist")
        for variant, file in sorted(manifest.variants.items()):
            if not (judge_dir / file).is_file():
                raise JudgeLoadError(judge, f"{variant} variant {judge_dir / file} does not exist")
    tok = load_tokenizer(judge, judge_dir / manifest.tokenizer)
    tokenizer = JudgeTokenizer(tok, kind=manifest.input.kind, max_length=manifest.input.max_length)
    if model_path.is_file():
        rows = _embedding_rows(judge, model_path, _id_input_names(manifest))
        if rows is not None and tokenizer.vocab_size > rows:
            raise JudgeLoadError(
                judge,
                f"tokenizer {manifest.tokenizer} has {tokenizer.vocab_size} tokens but the "
                f"model's embedding table has {rows} rows: wrong tokenizer for this model",
            )
    return LoadedJudge(
        judge_dir,
        manifest,
        tokenizer,
        backend_factory(judge, judge_dir, manifest),
        requested_provider=requested,
    )


def _id_input_names(manifest: JudgeManifest) -> set[str]:
    required, _ = INPUT_ROLES[manifest.input.kind]
    roles = [r for r in required if r.endswith("input_ids")]
    mapping = manifest.inputs or {}
    return {mapping.get(r, r) for r in roles}


def _embedding_rows(judge: str, model_path: Path, id_inputs: set[str]) -> int | None:
    """Rows of the embedding table that token ids index (a ``Gather`` of an initializer by
    an id input, possibly through ``Cast``); ``None`` when the graph does not show one."""
    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except (DecodeError, OSError, ValueError) as exc:
        raise JudgeLoadError(judge, f"{model_path.name} is not a valid ONNX file: {exc}") from exc
    graph = model.graph
    if not graph.node:
        raise JudgeLoadError(judge, f"{model_path.name} is not a valid ONNX file: empty graph")
    initializers = {init.name: init for init in graph.initializer}
    sources = set(id_inputs)
    for node in graph.node:  # ids cast to int32 before the lookup
        if node.op_type in ("Cast", "Identity") and node.input and node.input[0] in sources:
            sources.update(node.output)
    rows: list[int] = []
    for node in graph.node:
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[1] not in sources:
            continue
        init = initializers.get(node.input[0])
        if init is not None and len(init.dims) == 2:
            rows.append(int(init.dims[0]))
    return min(rows) if rows else None
